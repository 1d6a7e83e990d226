package transforms

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

// Three parsed blocks, written as the sample lines they come from:
//
//	file 0, block size 3, lines 1-3 (block blockA):
//	  1 b:2 a:1      features not in name order within a line
//	  0 c:3 b:1
//	  1 a:0.5
//	file 1, lines 1-3 (block blockB):
//	  0 c:1 a:2
//	  1 b:0.5
//	  1              no features: only the intercept uses it
//	file 1, lines 4-5 (block blockC):
//	  0 d:4 b:-1
//	  1 d:0.5
//
// With invertParts = 3 partitions, "" and c are in partition 0, d in 1,
// a and b in 2 (checked by requirePartitions in the tests).
const invertParts = 3

var (
	blockA = model.BlockKey(0, 1, 3) // 0
	blockB = model.BlockKey(1, 1, 3) // 1<<40
	blockC = model.BlockKey(1, 4, 3) // 1<<40 | 1

	parsedBlocks = []ParsedBlock{
		withNames(ParsedBlock{
			Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1},
			RowPtr: []int32{0, 2, 4, 5},
			Vals:   []float64{2, 1, 3, 1, 0.5},
		}, "b", "a", "c", "b", "a"),
		withNames(ParsedBlock{
			Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1},
			RowPtr: []int32{0, 2, 3, 3},
			Vals:   []float64{1, 2, 0.5},
		}, "c", "a", "b"),
		withNames(ParsedBlock{
			Block: blockC, File: 1, Lines: []int64{4, 5}, Labels: []float64{0, 1},
			RowPtr: []int32{0, 2, 3},
			Vals:   []float64{4, -1, 0.5},
		}, "d", "b", "d"),
	}

	invertPartitions = map[FeatureKey]int32{
		{Name: model.BiasName}: 0, {Name: "c"}: 0, {Name: "d"}: 1, {Name: "a"}: 2, {Name: "b"}: 2,
	}
)

// parsedDocs are parsedBlocks inverted by hand, without and with the
// intercept: columns in name order (parsedFeatures; "" first), each
// column's rows ascending with their values.
func parsedDocs(bias bool) []DocBlock {
	if !bias {
		return []DocBlock{
			{
				Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1},
				ColPtr: []int32{0, 2, 4, 5},
				Rows:   []int32{0, 2, 0, 1, 1},
				Vals:   []float64{1, 0.5, 2, 1, 3},
			},
			{
				Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1},
				ColPtr: []int32{0, 1, 2, 3},
				Rows:   []int32{0, 1, 0},
				Vals:   []float64{2, 0.5, 1},
			},
			{
				Block: blockC, File: 1, Lines: []int64{4, 5}, Labels: []float64{0, 1},
				ColPtr: []int32{0, 1, 3},
				Rows:   []int32{0, 0, 1},
				Vals:   []float64{-1, 4, 0.5},
			},
		}
	}
	return []DocBlock{
		{
			Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1},
			Intercept: 1, // the intercept's name sorts first
			ColPtr:    []int32{0, 3, 5, 7, 8},
			Rows:      []int32{0, 1, 2, 0, 2, 0, 1, 1},
			Vals:      []float64{1, 1, 1, 1, 0.5, 2, 1, 3},
		},
		{
			Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1},
			Intercept: 1, // the intercept's name sorts first
			ColPtr:    []int32{0, 3, 4, 5, 6},
			Rows:      []int32{0, 1, 2, 0, 1, 0},
			Vals:      []float64{1, 1, 1, 2, 0.5, 1},
		},
		{
			Block: blockC, File: 1, Lines: []int64{4, 5}, Labels: []float64{0, 1},
			Intercept: 1, // the intercept's name sorts first
			ColPtr:    []int32{0, 2, 3, 5},
			Rows:      []int32{0, 1, 0, 0, 1},
			Vals:      []float64{1, 1, -1, 4, 0.5},
		},
	}
}

// parsedFeatures are the columns' features of parsedDocs(bias), block by
// block.
func parsedFeatures(bias bool) [][]string {
	if !bias {
		return [][]string{{"a", "b", "c"}, {"a", "b", "c"}, {"b", "d"}}
	}
	return [][]string{{model.BiasName, "a", "b", "c"}, {model.BiasName, "a", "b", "c"}, {model.BiasName, "b", "d"}}
}

func TestInvertDocuments(t *testing.T) {
	requirePartitions(t, invertParts, invertPartitions)
	// The features of each block per partition, with their columns in the
	// DocBlocks above.
	featsNoBias := []featRec{
		{Part: 0, Block: blockA, Names: []string{"c"}, Cols: []int32{2}},
		{Part: 2, Block: blockA, Names: []string{"a", "b"}, Cols: []int32{0, 1}},
		{Part: 0, Block: blockB, Names: []string{"c"}, Cols: []int32{2}},
		{Part: 2, Block: blockB, Names: []string{"a", "b"}, Cols: []int32{0, 1}},
		{Part: 1, Block: blockC, Names: []string{"d"}, Cols: []int32{1}},
		{Part: 2, Block: blockC, Names: []string{"b"}, Cols: []int32{0}},
	}
	featsBias := []featRec{
		{Part: 0, Block: blockA, Names: []string{model.BiasName, "c"}, Cols: []int32{0, 3}},
		{Part: 2, Block: blockA, Names: []string{"a", "b"}, Cols: []int32{1, 2}},
		{Part: 0, Block: blockB, Names: []string{model.BiasName, "c"}, Cols: []int32{0, 3}},
		{Part: 2, Block: blockB, Names: []string{"a", "b"}, Cols: []int32{1, 2}},
		{Part: 0, Block: blockC, Names: []string{model.BiasName}, Cols: []int32{0}},
		{Part: 1, Block: blockC, Names: []string{"d"}, Cols: []int32{2}},
		{Part: 2, Block: blockC, Names: []string{"b"}, Cols: []int32{1}},
	}
	// Frequencies summed over the blocks:
	//   a: 3 postings, 1^2 + 0.5^2 + 2^2     = 5.25
	//   b: 4 postings, 2^2 + 1^2 + 0.5^2 + 1 = 6.25
	//   c: 2 postings, 3^2 + 1^2             = 10
	//   d: 2 postings, 4^2 + 0.5^2           = 16.25
	//   intercept: 8 postings of 1           = 8
	freqNoBias := []freqRec{
		{Part: 0, Names: []string{"c"}, Postings: []int64{2}, SumSq: []float64{10}},
		{Part: 1, Names: []string{"d"}, Postings: []int64{2}, SumSq: []float64{16.25}},
		{Part: 2, Names: []string{"a", "b"}, Postings: []int64{3, 4}, SumSq: []float64{5.25, 6.25}},
	}
	freqBias := []freqRec{
		{Part: 0, Names: []string{model.BiasName, "c"}, Postings: []int64{8, 2}, SumSq: []float64{8, 10}},
		freqNoBias[1], freqNoBias[2],
	}
	cases := []struct {
		name      string
		bias      bool
		wantFeats []featRec
		wantFreq  []freqRec
	}{
		{"bias", true, featsBias, freqBias},
		{"no-bias", false, featsNoBias, freqNoBias},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var wantDocs []docRec
			for _, d := range parsedDocs(tc.bias) {
				wantDocs = append(wantDocs, docRecOf(d))
			}
			onRunners(t, bothRunners, func(s beam.Scope) {
				idx := InvertDocuments(s, beam.CreateList(s, parsedBlocks), tc.bias, invertParts)
				passert.EqualsList(s, beam.ParDo(s, toDocRec, idx.Docs), wantDocs)
				passert.EqualsList(s, beam.ParDo(s, toFeatRec, idx.Features), tc.wantFeats)
				passert.EqualsList(s, beam.ParDo(s, toFreqRec, idx.Freq), tc.wantFreq)
			})
		})
	}
}

// TestInvertDocumentsFreqExact checks that a feature's sum of squares is
// added exactly across blocks. Squares 1e16, 1, 1, 1, 1: float64 spaces
// numbers near 1e16 by 2, so 1e16 + 1 rounds (to even) back to 1e16 and a
// left-to-right sum that starts with 1e16 ends at 1e16, while the exact
// total 1e16 + 4 is representable. A second feature, y, in the same
// partition, has its own total.
func TestInvertDocumentsFreqExact(t *testing.T) {
	const parts = 2
	requirePartitions(t, parts, map[FeatureKey]int32{{Name: "x"}: 1, {Name: "z"}: 1})
	var blocks []ParsedBlock
	for i, v := range []float64{1e8, 1, 1, 1, 1} {
		blocks = append(blocks, withNames(ParsedBlock{
			Block: int64(i), Lines: []int64{int64(i + 1)}, Labels: []float64{1},
			RowPtr: []int32{0, 2}, Vals: []float64{0.5, v},
		}, "z", "x"))
	}
	want := freqRec{Part: 1, Names: []string{"x", "z"}, Postings: []int64{5, 5}, SumSq: []float64{1e16 + 4, 1.25}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		idx := InvertDocuments(s, beam.CreateList(s, blocks), false, parts)
		passert.Equals(s, beam.ParDo(s, toFreqRec, idx.Freq), want)
	})
}

// TestSumFreqFnExact calls the frequency sum with the worst order for a
// float64 sum, the big square first, and with names arriving in no order.
func TestSumFreqFnExact(t *testing.T) {
	packs := []FreqPack{
		{Names: []string{"x"}, Postings: []int64{1}, SumSq: []float64{1e16}},
		{Names: []string{"y", "x"}, Postings: []int64{2, 1}, SumSq: []float64{3, 1}},
		{Names: []string{"x"}, Postings: []int64{1}, SumSq: []float64{1}},
		{Names: []string{"x", "w"}, Postings: []int64{2, 7}, SumSq: []float64{2, 0.5}},
	}
	var got []freqRec
	err := (&sumFreqFn{}).ProcessElement(5, iterFreqPacks(packs), func(p int32, fp FreqPack) { got = append(got, toFreqRec(p, fp)) })
	if err != nil {
		t.Fatal(err)
	}
	want := []freqRec{{Part: 5, Names: []string{"w", "x", "y"}, Postings: []int64{7, 5, 2}, SumSq: []float64{0.5, 1e16 + 4, 3}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sumFreqFn emitted %+v, want %+v", got, want)
	}
}

func TestInvert(t *testing.T) {
	t.Run("hand", func(t *testing.T) {
		for _, bias := range []bool{false, true} {
			want, wantNames := parsedDocs(bias), parsedFeatures(bias)
			for i, pb := range parsedBlocks {
				got, names, err := Invert(pb, bias)
				if err != nil {
					t.Fatalf("Invert(block %d, bias %v): %v", pb.Block, bias, err)
				}
				if !reflect.DeepEqual(got, want[i]) || !reflect.DeepEqual(names, wantNames[i]) {
					t.Errorf("Invert(block %d, bias %v) =\n%+v, %q\nwant\n%+v, %q", pb.Block, bias, got, names, want[i], wantNames[i])
				}
			}
		}
	})
	t.Run("feature-twice", func(t *testing.T) {
		// Row 1 has a twice, apart (a, b, a): the second copy is still
		// caught, and in any row.
		pb := withNames(ParsedBlock{
			Block: 7, Lines: []int64{1, 2}, Labels: []float64{0, 1},
			RowPtr: []int32{0, 1, 4}, Vals: []float64{1, 2, 3, 4},
		}, "a", "a", "b", "a")
		for _, bias := range []bool{false, true} {
			_, _, err := Invert(pb, bias)
			if err == nil || !strings.Contains(err.Error(), `block 7 row 1 has feature "a" twice`) {
				t.Errorf("Invert with a feature twice in a row (bias %v): error %v", bias, err)
			}
		}
	})
	t.Run("intercept-name", func(t *testing.T) {
		// A feature named like the intercept is refused when the intercept
		// is added, and is an ordinary feature otherwise.
		pb := withNames(ParsedBlock{Block: 8, Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0, 2},
			Vals: []float64{2, 3}}, "b", model.BiasName)
		if _, _, err := Invert(pb, true); err == nil || !strings.Contains(err.Error(), "named like the intercept") {
			t.Errorf("Invert with a feature named %q and bias: error %v", model.BiasName, err)
		}
		got, names, err := Invert(pb, false)
		want := DocBlock{Block: 8, Lines: []int64{1}, Labels: []float64{1},
			ColPtr: []int32{0, 1, 2}, Rows: []int32{0, 0}, Vals: []float64{3, 2}} // no Intercept
		if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(names, []string{model.BiasName, "b"}) {
			t.Errorf("Invert without bias = %+v, %q, %v; want %+v", got, names, err, want)
		}
	})
	t.Run("empty", func(t *testing.T) {
		// No samples: no columns, not even the intercept.
		pb := ParsedBlock{Block: 9, RowPtr: []int32{0}}
		got, names, err := Invert(pb, true)
		if err != nil || len(names) != 0 || got.Intercept != 0 || !reflect.DeepEqual(got.ColPtr, []int32{0}) || len(got.Rows) != 0 {
			t.Errorf("Invert(empty block) = %+v, %q, %v; want no columns", got, names, err)
		}
	})
}

// TestInvertDocumentsFeatureTwice: the stage fails on a block with a
// feature twice in a sample, naming both.
func TestInvertDocumentsFeatureTwice(t *testing.T) {
	bad := withNames(ParsedBlock{Block: 3, Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0, 2},
		Vals: []float64{1, 2}}, "q", "q")
	failsOnRunners(t, bothRunners, `block 3 row 0 has feature "q" twice`, func(s beam.Scope) {
		InvertDocuments(s, beam.CreateList(s, append([]ParsedBlock{bad}, parsedBlocks...)), true, invertParts)
	})
}

// testFile is one input file of samples, in line order.
type testFile []model.Sample

// randomFiles makes files of samples over features f0..f(features-1) with
// skewed frequencies (f0 in most samples), values in quarters in
// [-2, 2] and labels that depend on the features, deterministic in seed.
// Some samples have no feature at all.
func randomFiles(seed uint64, samplesPerFile []int, features int) []testFile {
	rng := rand.New(rand.NewPCG(seed, 1))
	var files []testFile
	for f, n := range samplesPerFile {
		var file testFile
		for i := 0; i < n; i++ {
			s := model.Sample{File: fmt.Sprintf("file%d", f), Line: int64(i + 1)}
			z := 0.0
			for j := 0; j < features; j++ {
				if rng.Float64()*float64(j+1) > 0.8 {
					continue
				}
				v := float64(rng.IntN(17)-8) / 4
				if v == 0 {
					v = 1
				}
				s.Features = append(s.Features, model.Feature{Name: fmt.Sprintf("f%d", j), Value: v})
				z += v * float64(j%3-1)
			}
			rng.Shuffle(len(s.Features), func(a, b int) { s.Features[a], s.Features[b] = s.Features[b], s.Features[a] })
			if model.Sigmoid(z) > rng.Float64() {
				s.Label = 1
			}
			file = append(file, s)
		}
		files = append(files, file)
	}
	return files
}

// parsedOf cuts files into parsed blocks of blockSize lines, as the
// pipeline's reader does.
func parsedOf(files []testFile, blockSize int) []ParsedBlock {
	var out []ParsedBlock
	var names [][]string
	for f, file := range files {
		for i := range file {
			s := &file[i]
			key := model.BlockKey(f, s.Line, blockSize)
			if len(out) == 0 || out[len(out)-1].Block != key {
				out = append(out, ParsedBlock{Block: key, File: int32(f), RowPtr: []int32{0}})
				names = append(names, nil)
			}
			b, bn := &out[len(out)-1], &names[len(out)-1]
			b.Lines = append(b.Lines, s.Line)
			b.Labels = append(b.Labels, s.Label)
			for _, ft := range s.Features {
				*bn = append(*bn, ft.Name)
				b.Vals = append(b.Vals, ft.Value)
			}
			b.RowPtr = append(b.RowPtr, int32(len(*bn)))
		}
	}
	for i := range out {
		out[i] = withNames(out[i], names[i]...)
	}
	return out
}

// withNames gives pb its entries' feature names, one per entry, as a
// sorted vocabulary and the entries' places in it: BlockBuilder's work,
// done here the plain way.
func withNames(pb ParsedBlock, names ...string) ParsedBlock {
	vocab := slices.Compact(slices.Sorted(slices.Values(names)))
	pb.Vocab, pb.Cols = vocab, make([]int32, len(names))
	for k, name := range names {
		i, _ := slices.BinarySearch(vocab, name)
		pb.Cols[k] = int32(i)
	}
	return pb
}

// datasetOf is the reference trainer's dataset of files.
func datasetOf(files []testFile, bias bool, blockSize int) *model.Dataset {
	b := model.NewDatasetBuilder(bias, blockSize)
	for f, file := range files {
		for i := range file {
			b.Add(f, &file[i])
		}
	}
	return b.Dataset()
}

// TestInvertMatchesDataset compares Invert with the reference trainer's
// own layout of the same samples (model.DatasetBuilder), block by block.
func TestInvertMatchesDataset(t *testing.T) {
	files := randomFiles(7, []int{23, 9}, 8)
	for _, bias := range []bool{false, true} {
		const blockSize = 5
		d := datasetOf(files, bias, blockSize)
		parsed := parsedOf(files, blockSize)
		if len(parsed) != len(d.Blocks) {
			t.Fatalf("%d parsed blocks, the dataset has %d", len(parsed), len(d.Blocks))
		}
		for i, pb := range parsed {
			got, names, err := Invert(pb, bias)
			if err != nil {
				t.Fatal(err)
			}
			db := d.Blocks[i]
			want := DocBlock{Block: pb.Block, File: int32(db.File), Lines: db.Lines, Labels: db.Labels,
				ColPtr: db.ColPtr, Rows: db.Rows, Vals: db.Vals}
			var wantNames []string
			for c, j := range db.Cols {
				wantNames = append(wantNames, d.Names[j])
				if d.Names[j] == model.BiasName && bias {
					want.Intercept = int32(c) + 1
				}
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(names, wantNames) {
				t.Fatalf("bias %v, block %d: Invert =\n%+v, %q\nthe dataset has\n%+v, %q", bias, pb.Block, got, names, want, wantNames)
			}
		}
	}
}

// BenchmarkSumFreq sums one partition's frequencies in the shape of
// `dpmr bench`'s 10M data set: 31 blocks of 16,384 samples over 1M
// Zipf-distributed features in 256 partitions, so about 600 of the
// partition's 3,900 features in each block's sorted list.
func BenchmarkSumFreq(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, 3899)
	packs := make([]FreqPack, 31)
	for k := range packs {
		seen := map[string]bool{}
		for len(seen) < 600 {
			seen[fmt.Sprintf("f%07d", zipf.Uint64())] = true
		}
		for _, name := range slices.Sorted(maps.Keys(seen)) {
			packs[k].Names = append(packs[k].Names, name)
			packs[k].Postings = append(packs[k].Postings, 1+rng.Int64N(50))
			packs[k].SumSq = append(packs[k].SumSq, rng.Float64()*10)
		}
	}
	for b.Loop() {
		if err := (&sumFreqFn{}).ProcessElement(0, iterFreqPacks(packs), func(int32, FreqPack) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// iterFreqPacks is a grouping's iterator over packs.
func iterFreqPacks(packs []FreqPack) func(*FreqPack) bool {
	i := 0
	return func(fp *FreqPack) bool {
		if i == len(packs) {
			return false
		}
		*fp = packs[i]
		i++
		return true
	}
}
