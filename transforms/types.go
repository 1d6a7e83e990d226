package transforms

import (
	"hash/fnv"

	"github.com/dpmr/dpmr/model"
)

// MetricsNamespace is the namespace of dpmr's Beam metrics.
const MetricsNamespace = "dpmr"

// Beam's cost is per element, so nothing in a pass travels one feature or
// one posting at a time. The parameter side is cut into partitions (a hash
// of the feature key) and the data side into blocks of consecutive lines;
// an element is a partition's rows, a block's matrix, or the part of one
// that concerns one block and one partition. A pass then moves about
// partitions x blocks elements, however many features and postings there
// are, and each element carries enough work to amortize its overhead.

// FeatureKey names a feature's parameter row, or one shard of a hot
// feature's. The shard is a field of the key, never part of the name, so
// no real feature name can collide with a shard.
type FeatureKey struct {
	Name  string
	Shard int32 // 0 for an unsharded feature, 1..k for the shards of a hot one
}

// PartitionOf is the partition, of n, that holds key k. A multiclass
// parameter row (model.ClassRow) goes with its feature.
func PartitionOf(k FeatureKey, n int32) int32 {
	h := fnv.New64a()
	name, _ := model.RowFeature(k.Name)
	h.Write([]byte(name))
	x := h.Sum64() + uint64(k.Shard)*0x9E3779B97F4A7C15
	x ^= x >> 29
	return int32(x % uint64(n))
}

// ParsedBlock is a block of consecutive samples as parsed from one file,
// row-major: sample r's features are Vocab[Cols[k]] with value Vals[k] for
// k in [RowPtr[r], RowPtr[r+1]). Vocab holds the block's distinct feature
// names in ascending order, so InvertDocuments needs neither to look a
// name up nor to sort: the parser (BlockBuilder) has done both.
type ParsedBlock struct {
	Block  int64 // model.BlockKey of its file and lines
	File   int32 // position of the file in the sorted input list
	Lines  []int64
	Labels []float64
	// Weights are the samples' weights (model.Block.Weights): nil when
	// all are 1.
	Weights []float64
	RowPtr  []int32
	Vocab   []string
	Cols    []int32
	Vals    []float64
}

// DocBlock is a block of samples inverted once, at setup: a column-major
// matrix whose columns are the block's features in ascending name order,
// each column's rows ascending (the reference trainer's model.Block).
// Every pass reads it as it is; only weights travel to it. It holds no
// feature names (Invert returns them beside it, for the index): a pass
// needs to know only which column is the intercept's.
type DocBlock struct {
	Block   int64
	File    int32
	Lines   []int64
	Labels  []float64
	Weights []float64 // nil when all are 1
	// Intercept is 1 + the intercept's column; 0, the zero value, for a
	// block without one.
	Intercept int32
	ColPtr    []int32
	Rows      []int32
	Vals      []float64
}

// Columns is the number of the block's columns (features).
func (b *DocBlock) Columns() int { return max(len(b.ColPtr)-1, 0) }

// InterceptColumn is the intercept's column, or -1 when the block has
// none (training without --bias).
func (b *DocBlock) InterceptColumn() int { return int(b.Intercept) - 1 }

// Matrix views the block as the model's column-major block.
func (b *DocBlock) Matrix() *model.Block {
	return &model.Block{Labels: b.Labels, Weights: b.Weights, ColPtr: b.ColPtr, Rows: b.Rows, Vals: b.Vals}
}

// BlockFeatures is the inverted index at block granularity: the features
// of one partition that one block uses (names ascending) and the column
// each has in the block. It is keyed by partition. It lives only in
// setup and prediction: AssignRowIDs turns it into BlockRows.
type BlockFeatures struct {
	Block int64
	Names []string
	Cols  []int32
}

// BlockRows is BlockFeatures with each name resolved to its row's RowID
// (NoRow for a feature without one): what the index keeps and every pass
// distributes by, keyed by the partition that serves the columns.
type BlockRows struct {
	Block int64
	Cols  []int32
	IDs   []RowID
}

// RowID is where a feature's parameter row lives: its partition and its
// position in the partition's RowPack (names ascending; under multiclass
// the position of class 0's row, class k's being Pos+k). Every column a
// block is sent a weight for comes with its row's RowID, so what the block
// sends back is routed and added up by position. The ids are assigned
// once, at setup (AssignRowIDs), so no name travels or is hashed in a pass.
type RowID struct {
	Part, Pos int32
}

// NoRow is the RowID of a column whose feature has no row (prediction,
// where an unseen feature weighs 0).
var NoRow = RowID{Part: -1, Pos: -1}

// BlockWeights are the current weights and steps of some of a block's
// columns, sent by one partition: what DistributeParameters emits, keyed
// by block. Under multiclass W and D hold K values per column, column
// Cols[i]'s class k at i*K+k. IDs are the columns' rows. G and H, and U
// for the search, are in place of W and D the fields of the columns' rows
// that subspace's trips after pass 0 read (RowFields); nil otherwise. They
// travel as arrays, not as model.Rows, which the local runners would hold
// at 88 bytes a column while the weights wait to be grouped.
type BlockWeights struct {
	Block   int64 // the block they are for, which is also their key
	Cols    []int32
	IDs     []RowID
	W, D    []float64
	G, H, U []float64
}

// FreqPack counts, for the features of one partition, their postings and
// the sum of their values' squares (which sets their curvature estimate):
// one block's share, or the totals.
type FreqPack struct {
	Names    []string
	Postings []int64
	SumSq    []float64
}

// RowPack is one partition's parameter rows, names ascending. In
// DistributeParameters it is also a hot feature's copy, sent to the
// partition of one of its shards: then it holds that feature's rows alone
// and From says where they live.
type RowPack struct {
	Names []string
	Rows  []model.Row
	From  *RowID // nil but on a hot feature's copy; never in a snapshot
}

// SufficientBlock is a block of samples that carries, for every feature it
// uses (its columns), the feature's weight and step (K of each under
// multiclass, as model.Block lays them out): enough to score and
// differentiate it with no other data. ParamRows are its columns' rows, in
// place of W and D, when DistributeParameters sent them (subspace's trips
// after pass 0, RowFields), and Kept the margins the block
// kept from the pass before (subspace after pass 0; empty otherwise).
type SufficientBlock struct {
	DocBlock
	IDs       []RowID // each column's row
	W, D      []float64
	ParamRows []model.Row
	Kept      model.SubspaceMargins
}

// KeptMargins are the margins a block keeps from one subspace pass for
// the next (model.SubspaceMargins.Kept): written with the pass's rows,
// read back beside the block's samples.
type KeptMargins struct {
	Block   int64
	Margins model.SubspaceMargins
}

// MarginBlock is a block as subspace's search rounds see it: its labels
// and its margins along W and the basis (model.SubspaceMargins), computed
// once per pass. The rounds need no postings and no rows, and each round
// reads every block again, so this is what is kept between them.
type MarginBlock struct {
	Block   int64
	Labels  []float64
	Weights []float64 // nil when all are 1
	Margins model.SubspaceMargins
}

// SearchedBlock is what subspace's gradient stage needs of a block
// besides its postings: its columns' rows and its margins along W and the
// basis, from which the margins at the chosen point follow without the
// rows. The postings are not kept with it: the gradient stage reads them
// again from the index (pipeline.IndexTrip.SubspaceGradients), so that no block's
// postings wait in memory for the search's choice.
type SearchedBlock struct {
	Block   int64
	IDs     []RowID
	Margins model.SubspaceMargins
}

// GradPack is one block's contribution to the gradients of the rows of
// one partition it uses (Pos, their positions in the partition's
// RowPack), for L-BFGS and subspace to
// their curvature (the Hessian's diagonal), and for averaging their
// weights after the block's local SGD epoch; or, in subspace's first
// stage, only the block's shares of the local-Newton direction
// (model.Block.NewtonShares).
type GradPack struct {
	Pos    []int32
	G      []float64 // nil in subspace's first stage
	Curv   []float64 // nil unless lbfgs or subspace
	LocalW []float64 // nil unless averaging
	Newton []float64 // nil unless subspace's first stage
}
