package transforms

import "github.com/dpmr/dpmr/model"

// MetricsNamespace is the namespace of dpmr's Beam metrics.
const MetricsNamespace = "dpmr"

// FeatureKey is the shuffle key of a feature's postings: the feature, or
// one shard of a hot feature. The shard is a field of the key, never part
// of the name, so no real feature name can collide with a shard.
type FeatureKey struct {
	Name  string
	Shard int32 // 0 for an unsharded feature, 1..k for the shards of a hot one
}

// ParsedBlock is a block of consecutive samples as parsed from one file,
// row-major: sample r's features are Names/Vals[RowPtr[r]:RowPtr[r+1]].
type ParsedBlock struct {
	Block  int64 // model.BlockKey of its file and lines
	File   int32 // position of the file in the sorted input list
	Lines  []int64
	Labels []float64
	RowPtr []int32
	Names  []string
	Vals   []float64
}

// Postings are one feature's postings in one block, rows ascending.
type Postings struct {
	Block int64
	Rows  []int32
	Vals  []float64
}

// LabelBlock holds the labels and line numbers of one block's samples;
// it travels beside the inverted index, keyed by block.
type LabelBlock struct {
	File   int32
	Lines  []int64
	Labels []float64
}

// WeightedPostings are a feature's postings in one block together with the
// feature's current weight and step: what DistributeParameters sends
// toward a block.
type WeightedPostings struct {
	Feature string
	W, D    float64
	Rows    []int32
	Vals    []float64
}

// SufficientBlock is a block of samples that carries, for every feature it
// uses, the feature's weight and step: enough to score and differentiate
// it with no other data. Columns are in ascending feature order.
type SufficientBlock struct {
	Block    int64
	File     int32
	Lines    []int64
	Features []string
	W, D     []float64
	Labels   []float64
	ColPtr   []int32
	Rows     []int32
	Vals     []float64
}

// Matrix views the block as the model's column-major block.
func (b *SufficientBlock) Matrix() *model.Block {
	return &model.Block{Labels: b.Labels, ColPtr: b.ColPtr, Rows: b.Rows, Vals: b.Vals}
}

// GradPart is one block's contribution to a feature's gradient and, for
// averaging, the feature's weight after the block's local SGD epoch.
type GradPart struct {
	G      float64
	LocalW float64
	Blocks int64
}

// GradSum is the per-feature total of GradParts.
type GradSum struct {
	G      float64
	LocalW float64 // sum over blocks of the local weights
	Blocks int64
}
