package model

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// Dataset is a training set held in memory the way the pipeline holds it
// spread over workers: samples cut into blocks of consecutive lines, each
// block a small column-major matrix over globally numbered features.
type Dataset struct {
	Names     []string    // feature names, ascending; feature j is Names[j]
	Blocks    []DataBlock // in file order, then line order
	Samples   int64
	Nonzeros  int64   // postings, the intercept included
	Positives int64   // samples labelled 1
	SumSq     float64 // sum of squared values times the sample weights, the intercept included
	// Classes is K for multiclass data (TrainParams.Multiclass), the
	// number of weights per feature; 0 for two classes.
	Classes int
	// ClassCounts counts the samples of each class under multiclass.
	ClassCounts []int64
}

// DataBlock is one block of a Dataset.
type DataBlock struct {
	Block
	Cols  []int32 // feature number of each column, ascending
	File  int     // position of the block's file in the input list
	Lines []int64 // line number of each row
}

// BlockKey identifies the block of a sample: its file's position in the
// sorted input list and its line's block number within the file.
func BlockKey(file int, line int64, blockSize int) int64 {
	return int64(file)<<40 | (line-1)/int64(blockSize)
}

// DatasetBuilder gathers samples, in file and line order, into a Dataset.
type DatasetBuilder struct {
	// ClassWeight multiplies the weight of each sample of class 0 and 1
	// (TrainParams.ClassWeight); zero means 1.
	ClassWeight [2]float64
	// Multiclass: labels are class numbers (Dataset.Classes).
	Multiclass bool

	bias      bool
	blockSize int
	ids       map[string]int32
	names     []string
	blocks    []rawBlock
	lastKey   int64
	d         Dataset
}

type rawBlock struct {
	file   int
	lines  []int64
	labels []float64
	// weights stays nil until a sample weighs other than 1.
	weights []float64
	rows    []int32
	cols    []int32
	vals    []float64
}

// NewDatasetBuilder starts an empty Dataset.
func NewDatasetBuilder(bias bool, blockSize int) *DatasetBuilder {
	b := &DatasetBuilder{bias: bias, blockSize: blockSize, ids: map[string]int32{}, lastKey: -1}
	if bias {
		b.id(BiasName)
	}
	return b
}

func (b *DatasetBuilder) id(name string) int32 {
	if j, ok := b.ids[name]; ok {
		return j
	}
	j := int32(len(b.names))
	b.ids[name] = j
	b.names = append(b.names, name)
	return j
}

// Add appends a sample of the file numbered file (its position in the
// sorted input list).
func (b *DatasetBuilder) Add(file int, s *Sample) {
	key := BlockKey(file, s.Line, b.blockSize)
	if key != b.lastKey || len(b.blocks) == 0 {
		b.blocks = append(b.blocks, rawBlock{file: file})
		b.lastKey = key
	}
	rb := &b.blocks[len(b.blocks)-1]
	r := int32(len(rb.labels))
	rb.labels = append(rb.labels, s.Label)
	rb.lines = append(rb.lines, s.Line)
	if b.Multiclass {
		k := int(s.Label)
		for len(b.d.ClassCounts) <= k {
			b.d.ClassCounts = append(b.d.ClassCounts, 0)
		}
		b.d.ClassCounts[k]++
	}
	w := SampleWeight(s.Weight, s.Label, b.ClassWeight)
	rb.weights = AppendWeight(rb.weights, int(r), w)
	if b.bias {
		rb.rows, rb.cols, rb.vals = append(rb.rows, r), append(rb.cols, b.ids[BiasName]), append(rb.vals, 1)
		b.d.SumSq += w
	}
	for _, f := range s.Features {
		rb.rows, rb.cols, rb.vals = append(rb.rows, r), append(rb.cols, b.id(f.Name)), append(rb.vals, f.Value)
		b.d.SumSq += w * f.Value * f.Value
	}
	b.d.Samples++
	if s.Label == 1 && !b.Multiclass {
		b.d.Positives++
	}
}

// Dataset numbers the features in name order and lays out the blocks.
func (b *DatasetBuilder) Dataset() *Dataset {
	d := b.d
	order := make([]int32, len(b.names))
	for i := range order {
		order[i] = int32(i)
	}
	sort.Slice(order, func(i, j int) bool { return b.names[order[i]] < b.names[order[j]] })
	rank := make([]int32, len(order))
	d.Names = make([]string, len(order))
	for newID, old := range order {
		rank[old] = int32(newID)
		d.Names[newID] = b.names[old]
	}
	if b.Multiclass {
		d.Classes = max(len(d.ClassCounts), 2)
	}
	for _, rb := range b.blocks {
		db := columnMajor(rb, rank)
		db.Classes = d.Classes
		d.Blocks = append(d.Blocks, db)
		d.Nonzeros += int64(len(rb.vals))
	}
	return &d
}

// CheckClasses refuses multiclass training data (counts of each class
// 0..K-1) in which a class has no sample: its weights would have nothing
// to fit, and its unpenalized intercept no optimum.
func CheckClasses(counts []int64) error {
	for k, n := range counts {
		if n == 0 {
			return fmt.Errorf("class %d has no sample in the training data: multiclass labels must be 0..K-1, each one used (the largest label here is %d)", k, len(counts)-1)
		}
	}
	if len(counts) < 2 {
		return fmt.Errorf("multiclass training data needs at least 2 classes; every label here is 0")
	}
	return nil
}

// columnMajor sorts a block's postings by (feature, row).
func columnMajor(rb rawBlock, rank []int32) DataBlock {
	idx := make([]int, len(rb.vals))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool {
		ci, cj := rank[rb.cols[idx[i]]], rank[rb.cols[idx[j]]]
		if ci != cj {
			return ci < cj
		}
		return rb.rows[idx[i]] < rb.rows[idx[j]]
	})
	db := DataBlock{File: rb.file, Lines: rb.lines, Block: Block{
		Labels: rb.labels, Weights: rb.weights, ColPtr: []int32{0},
		Rows: make([]int32, len(idx)), Vals: make([]float64, len(idx)),
	}}
	for k, i := range idx {
		c := rank[rb.cols[i]]
		if len(db.Cols) == 0 || db.Cols[len(db.Cols)-1] != c {
			if len(db.Cols) > 0 {
				db.ColPtr = append(db.ColPtr, int32(k))
			}
			db.Cols = append(db.Cols, c)
		}
		db.Rows[k], db.Vals[k] = rb.rows[i], rb.vals[i]
	}
	db.ColPtr = append(db.ColPtr, int32(len(idx)))
	if len(idx) == 0 {
		db.ColPtr = db.ColPtr[:1]
	}
	return db
}

// SampleWeight is the weight of a sample of weight w (Sample.Weight) and
// label y under class weights cw, a zero w or class weight meaning 1 (a
// Sample built without one).
func SampleWeight(w, y float64, cw [2]float64) float64 {
	if w == 0 {
		w = 1
	}
	if !Labelled(y) || int(y) >= len(cw) { // multiclass has no class weights
		return w
	}
	if c := cw[int(y)]; c != 0 {
		w *= c
	}
	return w
}

// AppendWeight records row r's weight w in weights, which stays nil while
// every weight is 1.
func AppendWeight(weights []float64, r int, w float64) []float64 {
	if weights == nil && w == 1 {
		return nil
	}
	for len(weights) < r {
		weights = append(weights, 1)
	}
	return append(weights, w)
}

// ReadDataset reads the files, in the order given, into a Dataset. It
// stops at the first malformed line with its *ParseError.
func ReadDataset(paths []string, bias bool, blockSize int) (*Dataset, error) {
	return ReadTrainingSet(paths, TrainParams{Bias: bias, BlockSize: blockSize})
}

// ReadTrainingSet reads the files as ReadDataset does, with p's intercept,
// block size and class weights.
func ReadTrainingSet(paths []string, p TrainParams) (*Dataset, error) {
	b := NewDatasetBuilder(p.Bias, p.BlockSize)
	b.ClassWeight = p.ClassWeight
	b.Multiclass = p.Multiclass
	if err := eachSample(paths, p.Multiclass, b.Add); err != nil {
		return nil, err
	}
	if b.d.Samples == 0 {
		return nil, fmt.Errorf("no samples in %v", paths)
	}
	if p.Multiclass {
		if err := CheckClasses(b.d.ClassCounts); err != nil {
			return nil, fmt.Errorf("%v: %w", paths, err)
		}
	}
	return b.Dataset(), nil
}

// EachSample reads the files, in the order given, and calls fn with each
// sample and the position of its file in paths; s is reused between
// calls. It stops at the first malformed line with its *ParseError.
func EachSample(paths []string, fn func(file int, s *Sample)) error {
	return eachSample(paths, false, fn)
}

func eachSample(paths []string, multiclass bool, fn func(file int, s *Sample)) error {
	var s Sample
	for i, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		r := NewReader(f, path)
		r.Multiclass = multiclass
		for {
			err := r.Read(&s)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return err
			}
			fn(i, &s)
		}
		f.Close()
	}
	return nil
}

// Margins returns every sample's margin z under the weights (features
// missing from w weigh 0), computed as the pipeline's Classify does, per
// block in column order. Samples are in block order, each block's rows in
// line order.
func (d *Dataset) Margins(w map[string]float64) []float64 {
	var out []float64
	for bi := range d.Blocks {
		b := &d.Blocks[bi]
		wc, dc := make([]float64, len(b.Cols)), make([]float64, len(b.Cols))
		for c, j := range b.Cols {
			wc[c] = w[d.Names[j]]
		}
		z, zd := make([]float64, b.NumRows()), make([]float64, b.NumRows())
		b.Margins(wc, dc, z, zd)
		out = append(out, z...)
	}
	return out
}

// ClassMargins is Margins for a multiclass model (d.Classes = K, w a
// feature's K weights): K margins per sample, sample after sample.
func (d *Dataset) ClassMargins(w map[string][]float64) []float64 {
	K := d.Classes
	var out []float64
	for bi := range d.Blocks {
		b := &d.Blocks[bi]
		wc := make([]float64, K*len(b.Cols))
		for c, j := range b.Cols {
			if x, ok := w[d.Names[j]]; ok {
				copy(wc[c*K:(c+1)*K], x)
			}
		}
		z, zd := make([]float64, K*b.NumRows()), make([]float64, K*b.NumRows())
		b.Margins(wc, make([]float64, len(wc)), z, zd)
		out = append(out, z...)
	}
	return out
}
