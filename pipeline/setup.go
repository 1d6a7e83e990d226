package pipeline

import (
	"encoding/json"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.Function1x1[transforms.ParsedBlock, []float64](blockStats)
	register.Function1x1[Reject, []float64](rejectStats)
	register.Function2x1[int32, transforms.FreqPack, []float64](featureStats)
	register.Combiner2[firstReject, Reject](&firstRejectFn{})
	register.DoFn4x1[[]float64, func(*firstReject) bool, func(*[]float64) bool, func([]byte), error](&indexMetaFn{})
	register.Function2x0[transforms.ParsedBlock, func([]float64)](blockClassCounts)
	register.DoFn2x1[Reject, func(int32, []byte), error](&encodeRejectFn{})
}

// Positions of the index figures in the vector SumVectors adds up.
const (
	statSamples = iota
	statPositives
	statNonzeros
	statSumSq
	statBlocks
	statBadLines
	statFeatures
	statUnlabelled
	numStats
)

// IndexMeta is what the setup pipeline reports in the index manifest.
type IndexMeta struct {
	Samples   int64 `json:"samples"`
	Positives int64 `json:"positives"`
	// Unlabelled counts the samples without a label, which only a
	// prediction input may have.
	Unlabelled int64   `json:"unlabelled,omitempty"`
	Nonzeros   int64   `json:"nonzeros"` // postings, the intercept included
	SumSq      float64 `json:"sum_sq"`   // sum of squared values, the intercept included
	Blocks     int64   `json:"blocks"`
	Features   int64   `json:"features"` // parameter rows, the intercept included
	// Partitions is the number of parameter partitions the index is keyed
	// by; every pass over it partitions its rows alike.
	Partitions int32   `json:"partitions"`
	BadLines   int64   `json:"bad_lines"`
	FirstBad   *Reject `json:"first_bad,omitempty"` // the bad line earliest in the input
	// ClassCounts counts the samples of each class 0..K-1 of multiclass
	// data (model.CheckClasses says whether they make a training set).
	ClassCounts []int64 `json:"class_counts,omitempty"`
}

// Classes is K for a multiclass index, else 0: model.Block.Classes.
func (m IndexMeta) Classes() int {
	if len(m.ClassCounts) < 2 {
		return 0
	}
	return len(m.ClassCounts)
}

// SetupParams configure the setup pipeline.
type SetupParams struct {
	Files     []InputFile
	Dir       string // the index snapshot directory
	StartDir  string // the starting rows snapshot directory
	Bias      bool
	BlockSize int
	// ClassWeight multiplies the sample weights by class, in the training
	// set and the test set alike (model.TrainParams.ClassWeight).
	ClassWeight [2]float64
	// Multiclass reads labels as class numbers, counts each class in the
	// index manifest and gives every feature one row per class.
	Multiclass bool
	// Partitions is the number of parameter partitions (PartitionsFor).
	Partitions int32
	// SplitBytes is the size of the pieces a large local input file is
	// read in by several workers (0: DefaultSplitBytes; negative: every
	// file by one worker; see ReadBlocks).
	SplitBytes int64
	Sharding   transforms.ShardingParams
	Shards     int // files per dataset
	// BlockShards is the number of files of the inverted blocks (0:
	// Shards); see BlockShardsFor.
	BlockShards int
	// Warm, if set, are the weights files of a model to start from.
	Warm []ShardFile
	// TestFiles, if any, are indexed into TestDir for evaluation.
	TestFiles []InputFile
	TestDir   string
}

// Setup builds the pipeline run once per training: read and parse the
// input, invert it (InvertDocuments), shard hot features, create the
// parameter rows (InitParameters), resolve the block features to the rows
// (AssignRowIDs), and write the index, the labels and the starting rows as
// snapshots. Rejected lines are written too and counted in the index
// manifest, which the driver checks before training. A test set, if
// given, gets an index of its own, resolved to the same rows, for
// evaluation after each pass.
func Setup(s beam.Scope, p SetupParams) {
	s = s.Scope("dpmr.Setup")
	train := invertFiles(s, p.Files, p)
	warm := transforms.ColdStart(s)
	if len(p.Warm) > 0 {
		warm = transforms.PackWeights(s, ReadWeights(s, p.Warm, 0), p.Partitions)
	}
	rows := transforms.ExpandClasses(s, transforms.InitParameters(s, train.idx.Freq, warm), train.classes)
	WriteManifest(s, p.StartDir, WriteRows(s, p.StartDir, p.Shards, rows), beam.PCollection{})
	train.write(s, p.Dir, rows, false, p)
	if len(p.TestFiles) > 0 {
		s := s.Scope("test")
		invertFiles(s, p.TestFiles, p).write(s, p.TestDir, rows, true, p)
	}
}

// invertedFiles is an index before it is written: files read, parsed,
// inverted and their hot features sharded, with the figures of its
// manifest.
type invertedFiles struct {
	idx           transforms.Index
	features, hot beam.PCollection // ShardHotFeatures'
	rejects, meta beam.PCollection
	classes       beam.PCollection // multiclass data's class counts, a singleton PCollection<[]float64>; empty for two classes
}

func invertFiles(s beam.Scope, files []InputFile, p SetupParams) invertedFiles {
	blocks, rejects := ReadBlocks(s, files, p.BlockSize, model.LabelRequired, p.ClassWeight, p.SplitBytes, p.Multiclass)
	idx := transforms.InvertDocuments(s, blocks, p.Bias, p.Partitions)
	features, hot := transforms.ShardHotFeatures(s, idx, p.Sharding, p.Partitions)

	stats := transforms.SumVectors(s, beam.Flatten(s,
		beam.ParDo(s, blockStats, blocks),
		beam.ParDo(s, rejectStats, rejects),
		beam.ParDo(s, featureStats, idx.Freq),
	), numStats)
	first := beam.Combine(s, &firstRejectFn{}, rejects)
	var classes beam.PCollection
	if p.Multiclass {
		classes = transforms.SumVectors(s.Scope("classes"), beam.ParDo(s, blockClassCounts, blocks), 0)
	} else {
		classes = noClasses(s)
	}
	meta := beam.ParDo(s, &indexMetaFn{Partitions: p.Partitions}, stats, beam.SideInput{Input: first}, beam.SideInput{Input: classes})
	return invertedFiles{idx: idx, features: features, hot: hot, rejects: rejects, meta: meta, classes: classes}
}

// write writes the index snapshot in dir: the inverted blocks, the block
// features resolved to rows (a feature rows lacks is an error, or, when
// missingIsZero, NoRow), the hot table and the rejected lines, with
// IndexMeta in the manifest.
func (x invertedFiles) write(s beam.Scope, dir string, rows beam.PCollection, missingIsZero bool, p SetupParams) {
	blockShards := p.BlockShards
	if blockShards == 0 {
		blockShards = p.Shards
	}
	routes := transforms.AssignRowIDs(s, rows, x.features, x.hot, p.Partitions, missingIsZero)
	written := beam.Flatten(s,
		WriteDataset(s, dir, "blocks", blockShards, beam.ParDo(s, &encodeDocsFn{Shards: blockShards}, x.idx.Docs)),
		WriteDataset(s, dir, "features", p.Shards, beam.ParDo(s, &encodeFeaturesFn{Shards: p.Shards}, routes)),
		WriteDataset(s, dir, "hot", 1, beam.ParDo(s, &encodeHotFn{Shards: 1}, x.hot)),
		WriteDataset(s, dir, "rejects", 1, beam.ParDo(s, &encodeRejectFn{}, x.rejects)),
	)
	WriteManifest(s, dir, written, x.meta)
}

// noClasses is the class counts of two-class data: none.
func noClasses(s beam.Scope) beam.PCollection { return beam.CreateList(s, [][]float64{}) }

// blockClassCounts counts a multiclass block's samples of each class.
func blockClassCounts(b transforms.ParsedBlock, emit func([]float64)) {
	var n []float64
	for _, y := range b.Labels {
		if model.Labelled(y) {
			for len(n) <= int(y) {
				n = append(n, 0)
			}
			n[int(y)]++
		}
	}
	emit(n)
}

func blockStats(b transforms.ParsedBlock) []float64 {
	v := make([]float64, numStats)
	v[statSamples] = float64(len(b.Labels))
	for _, y := range b.Labels {
		switch {
		case !model.Labelled(y):
			v[statUnlabelled]++
		case y == 1:
			v[statPositives]++
		}
	}
	v[statNonzeros] = float64(len(b.Vals))
	for r := range b.Labels {
		w := model.WeightAt(b.Weights, r)
		for _, x := range b.Vals[b.RowPtr[r]:b.RowPtr[r+1]] {
			v[statSumSq] += w * x * x
		}
	}
	v[statBlocks] = 1
	return v
}

func rejectStats(Reject) []float64 {
	v := make([]float64, numStats)
	v[statBadLines] = 1
	return v
}

// featureStats counts a partition's features; the intercept's postings,
// one per sample, are counted here too since blockStats never sees them.
func featureStats(_ int32, freq transforms.FreqPack) []float64 {
	v := make([]float64, numStats)
	v[statFeatures] = float64(len(freq.Names))
	for i, name := range freq.Names {
		if name == model.BiasName {
			v[statNonzeros] = float64(freq.Postings[i])
			v[statSumSq] = freq.SumSq[i]
		}
	}
	return v
}

// firstReject keeps the earliest bad line.
type firstReject struct {
	Has bool
	R   Reject
}

type firstRejectFn struct{}

func (f *firstRejectFn) AddInput(a firstReject, r Reject) firstReject {
	return f.MergeAccumulators(a, firstReject{Has: true, R: r})
}

func (f *firstRejectFn) MergeAccumulators(a, b firstReject) firstReject {
	switch {
	case !b.Has:
		return a
	case !a.Has:
		return b
	case b.R.File < a.R.File || b.R.File == a.R.File && b.R.Line < a.R.Line:
		return b
	}
	return a
}

type indexMetaFn struct{ Partitions int32 }

func (f *indexMetaFn) ProcessElement(v []float64, first func(*firstReject) bool, classes func(*[]float64) bool, emit func([]byte)) error {
	m := IndexMeta{
		Samples: int64(v[statSamples]), Positives: int64(v[statPositives]), Nonzeros: int64(v[statNonzeros]),
		SumSq: v[statSumSq], Blocks: int64(v[statBlocks]), BadLines: int64(v[statBadLines]),
		Features: int64(v[statFeatures]), Partitions: f.Partitions, Unlabelled: int64(v[statUnlabelled]),
	}
	var counts []float64
	for classes(&counts) {
		for _, n := range counts {
			m.ClassCounts = append(m.ClassCounts, int64(n))
		}
	}
	var fr firstReject
	for first(&fr) {
		if fr.Has {
			r := fr.R
			m.FirstBad = &r
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	emit(data)
	return nil
}

type encodeRejectFn struct{}

func (f *encodeRejectFn) ProcessElement(r Reject, emit func(int32, []byte)) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	emit(0, data)
	return nil
}
