package transforms

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/stretchr/testify/require"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
)

// codec is one element encoding under test: its encoder and decoder,
// type-erased so that all of them run through the same checks.
type codec struct {
	name string
	typ  reflect.Type
	enc  func(any) []byte
	dec  func([]byte) (any, error)
	// samples are values to round-trip: edge values and the zero value.
	samples []any
	// registered is set for the types whose coder Beam must use.
	registered bool
}

func codecOf[T any](name string, registered bool, enc func(T) []byte, dec func([]byte) (T, error), samples ...T) codec {
	c := codec{
		name:       name,
		typ:        reflect.TypeOf((*T)(nil)).Elem(),
		enc:        func(v any) []byte { return enc(v.(T)) },
		dec:        func(b []byte) (any, error) { return dec(b) },
		registered: registered,
	}
	var zero T
	for _, s := range append(samples, zero) {
		c.samples = append(c.samples, s)
	}
	return c
}

// Float edge values: every one must come back bit for bit.
var (
	negZero = math.Copysign(0, -1)
	oddNaN  = math.Float64frombits(0x7ff8_0000_dead_beef)
	edgeF64 = []float64{1e-320, -2.5, 1e308, math.Inf(1), math.Inf(-1), negZero, oddNaN, math.SmallestNonzeroFloat64, -math.MaxFloat64}
)

// codecs are all the element encodings: every type registered with Beam
// and model.Row's (AppendRow/DecodeRow). Value lists come in both layouts:
// all small integers (the compact one; the bounds +-2^31 included) and
// not (-0, fractions, NaN...); matrices with empty columns and large or
// descending row gaps.
func codecs() []codec {
	return []codec{
		codecOf("ParsedBlock", true, encodeParsedBlock, decodeParsedBlock,
			ParsedBlock{Block: 1<<40 | 7, File: math.MaxInt32, Lines: []int64{1, math.MaxInt64, -3}, Labels: []float64{1, 0, negZero},
				RowPtr: []int32{0, 2, 2, 3}, Vocab: []string{"", "a:b#é", "x y"}, Cols: []int32{1, 0, 2}, Vals: []float64{1e-320, oddNaN, math.Inf(-1)}},
			ParsedBlock{Block: 3, Lines: []int64{1, 2}, Labels: []float64{1, 0}, Weights: []float64{2.5, 1}, RowPtr: []int32{0, 3, 4},
				Vocab: []string{"a", "b", "c"}, Cols: []int32{0, 1, 2, 0}, Vals: []float64{1 << 31, -(1 << 31), 0, 7}}),
		codecOf("DocBlock", true, EncodeDocBlock, DecodeDocBlock,
			DocBlock{Block: -1, File: 3, Lines: []int64{5, 6, 7}, Labels: []float64{1, 0, 1}, Intercept: 1,
				ColPtr: []int32{0, 3, 3, 5}, Rows: []int32{0, 1, 2, 0, 2}, Vals: edgeF64[:5]},
			DocBlock{Block: 2, Lines: []int64{1}, Labels: []float64{0}, ColPtr: []int32{0}},
			DocBlock{Block: 4, Lines: []int64{1, 2, 3, 4}, Labels: []float64{0.5, 1, negZero, 0}, Intercept: 3,
				ColPtr: []int32{0, 0, 4, 6}, Rows: []int32{0, 1, 2, 3, 1, 3}, Vals: []float64{1, 1, 1, 1, -3, 1 << 31}},
			DocBlock{Block: 5, Lines: []int64{1, 2}, Labels: []float64{1, 1}, Weights: []float64{1e-100, 3},
				ColPtr: []int32{0, 2}, Rows: []int32{0, 1}, Vals: []float64{1, (1 << 31) + 1}},
			// -0 is an integer, but not one the compact layout can keep.
			DocBlock{Block: 6, Lines: []int64{1, 2}, Labels: []float64{negZero, 1},
				ColPtr: []int32{0, 2}, Rows: []int32{0, 1}, Vals: []float64{3, negZero}}),
		codecOf("BlockFeatures", true, encodeBlockFeatures, DecodeBlockFeatures,
			BlockFeatures{Block: math.MinInt64, Names: []string{"", "a", "zz"}, Cols: []int32{0, 7, math.MaxInt32}}),
		codecOf("BlockRows", true, encodeBlockRows, DecodeBlockRows,
			BlockRows{Block: math.MinInt64, Cols: []int32{0, 7, math.MaxInt32}, IDs: []RowID{{3, 0}, NoRow, {math.MaxInt32, math.MaxInt32}}},
			BlockRows{Block: 4}),
		codecOf("BlockWeights", true, encodeBlockWeights, decodeBlockWeights,
			BlockWeights{Block: -5, Cols: []int32{3, 0, 1}, IDs: []RowID{{0, 7}, {2, 0}, {math.MaxInt32, math.MaxInt32}}, W: edgeF64[:3], D: edgeF64[5:8]},
			// The rows' fields of subspace's trips: G and H, with U or not,
			// -0 and NaN kept.
			BlockWeights{Cols: []int32{2}, IDs: []RowID{NoRow}, G: []float64{-2}, H: []float64{3}, U: []float64{oddNaN}},
			BlockWeights{Block: 2, Cols: []int32{0, 1, 2}, IDs: []RowID{{0, 1}, {0, 2}, NoRow},
				G: []float64{negZero, 2, 0}, H: []float64{1, oddNaN, 0}},
			BlockWeights{Block: 3, Cols: []int32{0, 1}, IDs: []RowID{NoRow, NoRow}, G: []float64{0, 0}, H: []float64{0, 0}, U: []float64{0, 0}}),
		codecOf("FreqPack", true, encodeFreqPack, decodeFreqPack,
			FreqPack{Names: []string{"a", "b"}, Postings: []int64{1, 1 << 50}, SumSq: []float64{1e16 + 4, 0.25}}),
		codecOf("RowPack", true, encodeRowPack, decodeRowPackElement,
			RowPack{Names: []string{"", "a", "b", "c"}, Rows: []model.Row{
				{W: 0.1, G: -3, D: 1e-300, H: 2, S: []float64{1, 2}, Y: []float64{3, 4}},
				{W: negZero, G: oddNaN, D: math.Inf(1), H: 1},
				{H: 0.5, S: []float64{-1}, Y: []float64{1e308}},
				{W: 1, G: 2, H: 3, U: -4, S: []float64{5, 6, 7}}, // subspace: steps, no pairs
			}},
			RowPack{Names: []string{"h"}, Rows: []model.Row{{W: 1, D: 2}}, From: &RowID{Part: 3, Pos: 1 << 30}},
			RowPack{Rows: []model.Row{{W: 1, D: 2}, {W: 3}}},                   // a pass's: no names
			RowPack{Names: []string{"a", "b"}, From: &RowID{Part: 0, Pos: 2}}), // AssignRowIDs': no rows
		codecOf("Row", false, func(r model.Row) []byte { return AppendRow(nil, r) }, DecodeRow,
			model.Row{W: 0.1, G: -3, D: 1e-300, H: 2, S: []float64{1, oddNaN}, Y: []float64{3, negZero}}),
		codecOf("SufficientBlock", true, encodeSufficientBlock, decodeSufficientBlock,
			SufficientBlock{DocBlock: DocBlock{Block: 1 << 40, File: 1, Lines: []int64{1, 2}, Intercept: 1,
				Labels: []float64{1, 0}, ColPtr: []int32{0, 2, 3}, Rows: []int32{0, 1, 1}, Vals: []float64{1, 1, 1e-320}},
				IDs: []RowID{{1, 2}, NoRow}, W: []float64{0.5, oddNaN}, D: []float64{negZero, 2}},
			SufficientBlock{DocBlock: DocBlock{Block: 6, Lines: []int64{1, 2, 3, 4, 5, 6}, Labels: []float64{0, 1, 0, 1, 0, 1},
				ColPtr: []int32{0, 3, 4}, Rows: []int32{5, 0, 5, 3}, Vals: []float64{2, -1, 0, 1}},
				IDs: []RowID{{0, 0}, {0, 1}}, W: []float64{1, 2}, D: []float64{3, 4}},
			SufficientBlock{DocBlock: DocBlock{Block: 7, Lines: []int64{1}, Labels: []float64{1},
				ColPtr: []int32{0, 1}, Rows: []int32{0}, Vals: []float64{2}},
				IDs: []RowID{{5, 9}}, ParamRows: []model.Row{{W: 1, U: 2, S: []float64{3}}}},
			SufficientBlock{DocBlock: DocBlock{Block: 8, Lines: []int64{1, 2}, Labels: []float64{1, 0},
				ColPtr: []int32{0, 1}, Rows: []int32{1}, Vals: []float64{2}},
				IDs: []RowID{{5, 9}}, ParamRows: []model.Row{{G: 1, H: 2, U: 3}},
				Kept: model.SubspaceMargins{ZW: []float64{oddNaN, negZero}, Z: [][]float64{{1, 2}, {1e-320, -3}}}}),
		codecOf("KeptMargins", true, EncodeKeptMargins, DecodeKeptMargins,
			KeptMargins{Block: math.MinInt64, Margins: model.SubspaceMargins{ZW: []float64{1, oddNaN, 3}}},
			KeptMargins{Block: 3, Margins: model.SubspaceMargins{ZW: []float64{negZero}, Z: [][]float64{{math.Inf(1)}, {-2}}}}),
		codecOf("GradPack", true, encodeGradPack, decodeGradPack,
			GradPack{Pos: []int32{0, 1}, G: []float64{1e16, negZero}},
			GradPack{Pos: []int32{math.MaxInt32, 3}, G: []float64{oddNaN, 1}, LocalW: []float64{0, -1e-320}},
			GradPack{Pos: []int32{4}, G: []float64{2}, Curv: []float64{0.02}},
			GradPack{Pos: []int32{4, 5}, G: []float64{2, 3}, Curv: []float64{1e16, 0}, LocalW: []float64{5, 6}},
			GradPack{Pos: []int32{6}, G: []float64{2}, Curv: []float64{1}, Newton: []float64{-0.5}}),
		codecOf("MarginBlock", true, encodeMarginBlock, decodeMarginBlock,
			MarginBlock{Labels: []float64{1, 0}, Margins: model.SubspaceMargins{ZW: []float64{oddNaN, negZero}}},
			MarginBlock{Labels: []float64{1, 0}, Weights: []float64{0.5, 2}, Margins: model.SubspaceMargins{ZW: []float64{1, 2}}},
			MarginBlock{Block: 12, Labels: []float64{0, 1, 1}, Margins: model.SubspaceMargins{ZW: []float64{1, 2, 3},
				Z: [][]float64{{4, 5, 6}, {1e-320, math.Inf(1), -7}}}}),
		codecOf("SearchedBlock", true, encodeSearchedBlock, decodeSearchedBlock,
			SearchedBlock{Block: 7, IDs: []RowID{{1, 1}}, Margins: model.SubspaceMargins{ZW: []float64{1, -1}, Z: [][]float64{{0.25, oddNaN}}}},
			SearchedBlock{Block: -3, Margins: model.SubspaceMargins{ZW: []float64{negZero}}}),
		codecOf("PredictionBlock", true, encodePredictionBlock, DecodePredictionBlock,
			PredictionBlock{Block: 9, File: 2, Lines: []int64{10, 11}, Labels: []float64{0, 1}, Margins: []float64{math.Inf(-1), 745.5}},
			PredictionBlock{Block: 9, Lines: []int64{10, 11}, Labels: []float64{0, 1}, Weights: []float64{0.5, 7}, Margins: []float64{1, 2}}),
		evaluationCodec(),
	}
}

// evaluationCodec leaves out codecOf's zero value: an Evaluation always
// holds an Evaluator.
func evaluationCodec() codec {
	c := codecOf("Evaluation", true, encodeEvaluation, DecodeEvaluation, evaluationOf(0.3, 8, 0), evaluationOf(0.5, 4, 300))
	c.samples = c.samples[:len(c.samples)-1]
	return c
}

// evaluationOf counts n samples, some weighted, into an Evaluator of
// threshold and bins (n beyond bins merges them).
func evaluationOf(threshold float64, bins, n int) Evaluation {
	e, err := model.NewEvaluator(threshold, bins)
	if err != nil {
		panic(err)
	}
	for i := range n {
		z := math.Sin(float64(i)) * 3
		if err := e.AddWeighted(float64(i%3%2), z, 1+float64(i%4)/3); err != nil {
			panic(err)
		}
	}
	return Evaluation{e}
}

// sameValue reports whether a and b are equal with floats compared bit
// for bit (so NaNs and signed zeros count) and a nil slice equal to an
// empty one (the encoding does not tell them apart). It says where they
// differ.
func sameValue(a, b reflect.Value, path string) error {
	if e, ok := a.Interface().(Evaluation); ok { // an Evaluator is its state
		return sameValue(reflect.ValueOf(e.E.State()), reflect.ValueOf(b.Interface().(Evaluation).E.State()), path)
	}
	switch a.Kind() {
	case reflect.Float64:
		if math.Float64bits(a.Float()) != math.Float64bits(b.Float()) {
			return fmt.Errorf("%s: %v (%#x) != %v (%#x)", path, a.Float(), math.Float64bits(a.Float()), b.Float(), math.Float64bits(b.Float()))
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if err := sameValue(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Errorf("%s: %v != %v", path, a, b)
			}
			return nil
		}
		return sameValue(a.Elem(), b.Elem(), path)
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: length %d != %d", path, a.Len(), b.Len())
		}
		for i := 0; i < a.Len(); i++ {
			if err := sameValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if !a.Equal(b) {
			return fmt.Errorf("%s: %v != %v", path, a, b)
		}
	}
	return nil
}

func TestCodersRoundTrip(t *testing.T) {
	for _, c := range codecs() {
		t.Run(c.name, func(t *testing.T) {
			for i, v := range c.samples {
				enc := c.enc(v)
				got, err := c.dec(enc)
				if err != nil {
					t.Fatalf("sample %d: decode(encode(%+v)): %v", i, v, err)
				}
				if err := sameValue(reflect.ValueOf(got), reflect.ValueOf(v), c.name); err != nil {
					t.Fatalf("sample %d: decode(encode(v)) != v: %v", i, err)
				}
				if again := c.enc(got); !bytes.Equal(again, enc) {
					t.Fatalf("sample %d: re-encoding gives %x, first encoding %x", i, again, enc)
				}
				// Every strict prefix is refused (each field is always
				// read), and so is a trailing byte.
				for n := 0; n < len(enc); n++ {
					if _, err := c.dec(enc[:n]); !errors.Is(err, ErrMalformed) {
						t.Fatalf("sample %d: decoding the first %d of %d bytes: error %v, want ErrMalformed", i, n, len(enc), err)
					}
				}
				if _, err := c.dec(append(enc[:len(enc):len(enc)], 0)); !errors.Is(err, ErrMalformed) {
					t.Fatalf("sample %d: decoding with a trailing byte: error %v, want ErrMalformed", i, err)
				}
			}
		})
	}
}

// TestCodersRegistered checks that Beam encodes each registered type with
// its hand-written coder: Beam's encoding is the coder's bytes behind a
// length prefix, and decodes back to the value.
// TestRowPacksWithoutU reads row packs as snapshots before format 3 wrote
// them, W G D H S Y with no U: the rows come back with U = 0, and the
// current decoder, which expects U, does not take them for its own.
func TestRowPacksWithoutU(t *testing.T) {
	old := []model.Row{{W: 0.5, G: -1, D: 2, H: 3, S: []float64{1}, Y: []float64{-1}}, {W: 7, H: 1}}
	e := encoder{}
	e.strs([]string{"a", "b"})
	e.uint(uint64(len(old)))
	for _, r := range old {
		e.f64(r.W)
		e.f64(r.G)
		e.f64(r.D)
		e.f64(r.H)
		e.f64s(r.S)
		e.f64s(r.Y)
	}
	got, err := DecodeRowPackWithoutU(e.b)
	require.NoError(t, err)
	require.Equal(t, RowPack{Names: []string{"a", "b"}, Rows: old}, got)
	_, err = DecodeRowPack(e.b)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestCodersRegistered(t *testing.T) {
	for _, c := range codecs() {
		if !c.registered {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			v := c.samples[0]
			var buf bytes.Buffer
			if err := beam.NewElementEncoder(c.typ).Encode(v, &buf); err != nil {
				t.Fatal(err)
			}
			own := c.enc(v)
			want := append(appendUvarint(nil, uint64(len(own))), own...)
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("Beam encodes %s as %x, want its coder's %x behind a length prefix", c.name, buf.Bytes(), want)
			}
			got, err := beam.NewElementDecoder(c.typ).Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameValue(reflect.ValueOf(got), reflect.ValueOf(v), c.name); err != nil {
				t.Fatalf("Beam's decoding differs: %v", err)
			}
		})
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// rawEncoding writes records field by field, for malformed inputs that no
// encoder would produce.
type rawEncoding struct{ encoder }

func raw() *rawEncoding { return &rawEncoding{} }

func (r *rawEncoding) Int(v int64) *rawEncoding       { r.int(v); return r }
func (r *rawEncoding) Uint(v uint64) *rawEncoding     { r.uint(v); return r }
func (r *rawEncoding) F64s(v ...float64) *rawEncoding { r.f64s(v); return r }
func (r *rawEncoding) I32s(v ...int32) *rawEncoding   { r.i32s(v); return r }
func (r *rawEncoding) I64s(v ...int64) *rawEncoding   { r.i64s(v); return r }
func (r *rawEncoding) Strs(v ...string) *rawEncoding  { r.strs(v); return r }

// TestDecodersRefuseMalformed: records that are well formed byte-wise
// but inconsistent are refused, so that no later stage indexes out of
// bounds.
func TestDecodersRefuseMalformed(t *testing.T) {
	doc := func(lines []int64, labels []float64, intercept int32, colPtr, rows []int32, vals []float64) []byte {
		return EncodeDocBlock(DocBlock{Block: 1, Lines: lines, Labels: labels, Intercept: intercept, ColPtr: colPtr, Rows: rows, Vals: vals})
	}
	l2, y2 := []int64{1, 2}, []float64{0, 1}
	cases := []struct {
		name string
		dec  func([]byte) error
		b    []byte
	}{
		{"DocBlock/lines-labels", decErr(DecodeDocBlock), doc([]int64{1}, y2, 0, []int32{0, 1}, []int32{0}, []float64{1})},
		{"DocBlock/rows-vals", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{0, 1}, []int32{0}, []float64{1, 2})},
		{"DocBlock/intercept-beyond", decErr(DecodeDocBlock), doc(l2, y2, 2, []int32{0, 1}, []int32{0}, []float64{1})},
		{"DocBlock/intercept-negative", decErr(DecodeDocBlock), doc(l2, y2, -1, []int32{0, 1}, []int32{0}, []float64{1})},
		{"DocBlock/colptr-start", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{1, 1}, []int32{0}, []float64{1})},
		{"DocBlock/colptr-end", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{0, 2}, []int32{0}, []float64{1})},
		{"DocBlock/colptr-back", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{0, 2, 1}, []int32{0}, []float64{1})},
		{"DocBlock/row-outside", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{0, 1}, []int32{2}, []float64{1})},
		{"DocBlock/row-negative", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{0, 1}, []int32{-1}, []float64{1})},
		{"DocBlock/postings-without-columns", decErr(DecodeDocBlock), doc(l2, y2, 0, []int32{0}, []int32{0}, []float64{1})},
		{"BlockFeatures/names-cols", decErr(DecodeBlockFeatures), encodeBlockFeatures(BlockFeatures{Names: []string{"a", "b"}, Cols: []int32{0}})},
		{"BlockFeatures/negative-col", decErr(DecodeBlockFeatures), encodeBlockFeatures(BlockFeatures{Names: []string{"a"}, Cols: []int32{-1}})},
		{"BlockFeatures/col-beyond-int32", decErr(DecodeBlockFeatures), raw().Int(1).Strs("a").Uint(1).Int(1 << 40).b},
		{"BlockRows/cols-ids", decErr(DecodeBlockRows), encodeBlockRows(BlockRows{Cols: []int32{0, 1}, IDs: []RowID{{0, 0}}})},
		{"BlockRows/negative-col", decErr(DecodeBlockRows), encodeBlockRows(BlockRows{Cols: []int32{-1}, IDs: []RowID{{0, 0}}})},
		{"BlockRows/negative-part", decErr(DecodeBlockRows), encodeBlockRows(BlockRows{Cols: []int32{0}, IDs: []RowID{{-1, 0}}})},
		{"BlockRows/negative-pos", decErr(DecodeBlockRows), encodeBlockRows(BlockRows{Cols: []int32{0}, IDs: []RowID{{0, -2}}})},
		{"BlockWeights/w", decErr(decodeBlockWeights), encodeBlockWeights(BlockWeights{Cols: []int32{0, 1}, IDs: []RowID{{0, 0}, {0, 1}}, W: []float64{1}, D: []float64{1, 2}})},
		{"BlockWeights/d", decErr(decodeBlockWeights), encodeBlockWeights(BlockWeights{Cols: []int32{0}, IDs: []RowID{{0, 0}}, W: []float64{1}})},
		{"BlockWeights/h", decErr(decodeBlockWeights), encodeBlockWeights(BlockWeights{Cols: []int32{0}, IDs: []RowID{{0, 0}}, G: []float64{1}, H: []float64{1, 2}})},
		{"BlockWeights/u", decErr(decodeBlockWeights), encodeBlockWeights(BlockWeights{Cols: []int32{0}, IDs: []RowID{{0, 0}}, G: []float64{1}, H: []float64{1}, U: []float64{1, 2}})},
		{"BlockWeights/w-and-g", decErr(decodeBlockWeights), encodeBlockWeights(BlockWeights{Cols: []int32{0}, IDs: []RowID{{0, 0}}, W: []float64{1}, D: []float64{1}, G: []float64{1}, H: []float64{1}})},
		{"BlockWeights/ids", decErr(decodeBlockWeights), encodeBlockWeights(BlockWeights{Cols: []int32{0, 1}, IDs: []RowID{{0, 0}}, W: []float64{1, 2}, D: []float64{1, 2}})},
		{"FreqPack/postings", decErr(decodeFreqPack), encodeFreqPack(FreqPack{Names: []string{"a"}, SumSq: []float64{1}})},
		{"FreqPack/sumsq", decErr(decodeFreqPack), encodeFreqPack(FreqPack{Names: []string{"a"}, Postings: []int64{1}, SumSq: []float64{1, 2}})},
		{"Row/history", decErr(DecodeRow), AppendRow(nil, model.Row{S: []float64{1, 2}, Y: []float64{1}})},
		{"RowPack/names-rows", decErr(DecodeRowPack), AppendRowPack(nil, RowPack{Names: []string{"a", "b"}, Rows: []model.Row{{W: 1}}})},
		{"RowPack/names-rows-element", decErr(decodeRowPackElement), encodeRowPack(RowPack{Names: []string{"a", "b"}, Rows: []model.Row{{W: 1}}})},
		{"RowPack/rows-without-names", decErr(DecodeRowPack), AppendRowPack(nil, RowPack{Rows: []model.Row{{W: 1}}})},
		{"RowPack/from", decErr(decodeRowPackElement), append(AppendRowPack(nil, RowPack{Names: []string{"a"}, Rows: []model.Row{{W: 1}}}), 2)},
		{"RowPack/history", decErr(DecodeRowPack), AppendRowPack(nil, RowPack{Names: []string{"a"}, Rows: []model.Row{{S: []float64{1}, Y: []float64{1, 2}}}})},
		{"GradPack/g", decErr(decodeGradPack), encodeGradPack(GradPack{Pos: []int32{0}, G: []float64{1, 2}})},
		{"GradPack/curv", decErr(decodeGradPack), encodeGradPack(GradPack{Pos: []int32{0}, G: []float64{1}, Curv: []float64{1, 2}})},
		{"GradPack/localw", decErr(decodeGradPack), encodeGradPack(GradPack{Pos: []int32{0}, G: []float64{1}, LocalW: []float64{1, 2}})},
		{"MarginBlock/weights", decErr(decodeMarginBlock), encodeMarginBlock(MarginBlock{Labels: []float64{1, 0}, Weights: []float64{2}, Margins: model.SubspaceMargins{ZW: []float64{1, 2}}})},
		{"DocBlock/weights", decErr(DecodeDocBlock), EncodeDocBlock(DocBlock{Lines: []int64{1}, Labels: []float64{1}, Weights: []float64{1, 2}, ColPtr: []int32{0}})},
		{"ParsedBlock/weights", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, Labels: []float64{1}, Weights: []float64{1, 2}, RowPtr: []int32{0, 0}})},
		{"MarginBlock/zw", decErr(decodeMarginBlock), encodeMarginBlock(MarginBlock{Labels: []float64{1}, Margins: model.SubspaceMargins{ZW: []float64{1, 2}}})},
		{"MarginBlock/z", decErr(decodeMarginBlock), encodeMarginBlock(MarginBlock{Labels: []float64{1}, Margins: model.SubspaceMargins{ZW: []float64{1}, Z: [][]float64{{1, 2}}}})},
		{"SearchedBlock/z", decErr(decodeSearchedBlock), encodeSearchedBlock(SearchedBlock{Margins: model.SubspaceMargins{ZW: []float64{1}, Z: [][]float64{{1, 2}}}})},
		{"Evaluation/counts", decErr(DecodeEvaluation), evaluationBytes(model.Confusion{TP: 1}, 0, []float64{0.5}, []int64{1})},
		{"Evaluation/bins", decErr(DecodeEvaluation), evaluationBytes(model.Confusion{TP: 1}, 1, []float64{0.5}, []int64{2})},
		{"PredictionBlock/weights", decErr(DecodePredictionBlock), encodePredictionBlock(PredictionBlock{Lines: []int64{1}, Labels: []float64{1}, Weights: []float64{1, 2}, Margins: []float64{1}})},
		{"PredictionBlock/labels", decErr(DecodePredictionBlock), encodePredictionBlock(PredictionBlock{Lines: []int64{1}, Margins: []float64{1}})},
		{"PredictionBlock/margins", decErr(DecodePredictionBlock), encodePredictionBlock(PredictionBlock{Lines: []int64{1}, Labels: []float64{1}})},
		// Shapes: row pointers and column pointers that do not fit their
		// block, a file position beyond int32.
		{"ParsedBlock/labels", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, RowPtr: []int32{0, 0}})},
		{"ParsedBlock/rowptr-length", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0}})},
		{"ParsedBlock/rowptr-end", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0, 2}, Vocab: []string{"a"}, Cols: []int32{0}, Vals: []float64{1}})},
		{"ParsedBlock/rowptr-back", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1, 2}, Labels: []float64{1, 0}, RowPtr: []int32{0, 2, 1}, Vocab: []string{"a"}, Cols: []int32{0}, Vals: []float64{1}})},
		{"ParsedBlock/vocab-order", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0, 2}, Vocab: []string{"b", "a"}, Cols: []int32{0, 1}, Vals: []float64{1, 2}})},
		{"ParsedBlock/vocab-twice", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0, 2}, Vocab: []string{"a", "a"}, Cols: []int32{0, 1}, Vals: []float64{1, 2}})},
		{"ParsedBlock/col-range", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{Lines: []int64{1}, Labels: []float64{1}, RowPtr: []int32{0, 1}, Vocab: []string{"a"}, Cols: []int32{1}, Vals: []float64{1}})},
		{"ParsedBlock/empty-rowptr", decErr(decodeParsedBlock), encodeParsedBlock(ParsedBlock{RowPtr: []int32{5}})},
		{"ParsedBlock/file-beyond-int32", decErr(decodeParsedBlock), raw().Int(0).Int(1 << 32).I64s().F64s().I32s().Strs().Uint(1).Uint(0).b},
		{"DocBlock/colptr-without-columns", decErr(DecodeDocBlock), EncodeDocBlock(DocBlock{ColPtr: []int32{5}})},
		{"SufficientBlock/labels", decErr(decodeSufficientBlock), encodeSufficientBlock(SufficientBlock{DocBlock: DocBlock{Lines: []int64{1}, ColPtr: []int32{0}}})},
		{"SufficientBlock/weights", decErr(decodeSufficientBlock), encodeSufficientBlock(SufficientBlock{DocBlock: DocBlock{ColPtr: []int32{0, 0}}, IDs: []RowID{{0, 0}}, W: []float64{1}})},
		{"SufficientBlock/ids", decErr(decodeSufficientBlock), encodeSufficientBlock(SufficientBlock{DocBlock: DocBlock{Lines: []int64{1}, Labels: []float64{1},
			ColPtr: []int32{0, 1}, Rows: []int32{0}, Vals: []float64{1}}, W: []float64{1}, D: []float64{1}})},
		{"SufficientBlock/row-beyond-block", decErr(decodeSufficientBlock), encodeSufficientBlock(SufficientBlock{DocBlock: DocBlock{Lines: []int64{1}, Labels: []float64{1},
			ColPtr: []int32{0, 1}, Rows: []int32{1}, Vals: []float64{1}}, IDs: []RowID{{0, 0}}, W: []float64{1}, D: []float64{1}})},
		// Value lists: an unknown layout, an integer beyond +-2^31.
		{"ParsedBlock/vals-layout", decErr(decodeParsedBlock), raw().Int(0).Int(0).I64s().F64s().I32s().Strs().Uint(2).Uint(0).b},
		{"ParsedBlock/vals-int-range", decErr(decodeParsedBlock), raw().Int(0).Int(0).I64s().F64s().I32s().Strs("a").Uint(1).Uint(1).Int(1<<31 + 1).b},
		{"ParsedBlock/vals-int-range-negative", decErr(decodeParsedBlock), raw().Int(0).Int(0).I64s().F64s().I32s().Strs("a").Uint(1).Uint(1).Int(-1<<31 - 1).b},
		// Row gaps that lead below 0 or beyond int32.
		{"SufficientBlock/row-below-0", decErr(decodeSufficientBlock), raw().Int(0).Int(0).I64s().Uint(1).Uint(0).Strs("a").I32s(0, 2).Uint(2).Int(1).Int(-2).Uint(1).Uint(2).Int(1).Int(1).F64s(1).F64s(1).b},
		{"SufficientBlock/row-beyond-int32", decErr(decodeSufficientBlock), raw().Int(0).Int(0).I64s().Uint(1).Uint(0).Strs("a").I32s(0, 2).Uint(2).Int(math.MaxInt32).Int(1).Uint(1).Uint(2).Int(1).Int(1).F64s(1).F64s(1).b},
		// A length the record cannot hold must fail before allocating.
		{"ParsedBlock/huge-count", decErr(decodeParsedBlock), raw().Int(0).Int(0).Uint(1 << 60).b},
		{"RowPack/huge-count", decErr(DecodeRowPack), raw().Strs().Uint(1 << 62).b},
		{"SufficientBlock/huge-string", decErr(decodeSufficientBlock), raw().Int(0).Int(0).I64s().Uint(1).Uint(0).Uint(1).Uint(1 << 40).b},
	}
	for _, tc := range cases {
		allocs := testing.AllocsPerRun(1, func() {
			if err := tc.dec(tc.b); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: decoding %x: error %v, want ErrMalformed", tc.name, tc.b, err)
			}
		})
		if allocs > 20 {
			t.Errorf("%s: %v allocations to refuse a %d-byte record", tc.name, allocs, len(tc.b))
		}
	}
}

func decErr[T any](dec func([]byte) (T, error)) func([]byte) error {
	return func(b []byte) error {
		_, err := dec(b)
		return err
	}
}

// FuzzDecode feeds arbitrary bytes to every element decoder: they must
// fail cleanly (never panic, never allocate beyond the input), and
// whatever decodes must re-encode to a canonical form that decodes to the
// same value, bit for bit, and encodes to the same bytes again. (Varints
// may be spelt non-minimally in the input, so the input's own bytes need
// not come back.) A DocBlock that decodes must be safe to compute on.
func FuzzDecode(f *testing.F) {
	for _, c := range codecs() {
		for _, v := range c.samples {
			f.Add(c.enc(v))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x00, 0x02, 0x01})
	f.Add(bytes.Repeat([]byte{0xff}, 12))
	all := codecs()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range all {
			v, err := c.dec(b)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s: error %v is not ErrMalformed", c.name, err)
				}
				continue
			}
			canonical := c.enc(v)
			again, err := c.dec(canonical)
			if err != nil {
				t.Fatalf("%s: %x decodes to %+v, whose encoding %x does not decode: %v", c.name, b, v, canonical, err)
			}
			if err := sameValue(reflect.ValueOf(again), reflect.ValueOf(v), c.name); err != nil {
				t.Fatalf("%s: %x: value changes on re-encoding: %v", c.name, b, err)
			}
			if c2 := c.enc(again); !bytes.Equal(c2, canonical) {
				t.Fatalf("%s: %x: canonical form %x re-encodes as %x", c.name, b, canonical, c2)
			}
			if d, ok := v.(DocBlock); ok {
				n, cols := len(d.Labels), d.Columns()
				d.Matrix().Margins(make([]float64, cols), make([]float64, cols), make([]float64, n), make([]float64, n))
			}
			if pb, ok := v.(ParsedBlock); ok {
				// Any block the coder lets through inverts, or is refused
				// with an error (a feature twice in a row), without panicking.
				for _, bias := range []bool{false, true} {
					if _, _, err := Invert(pb, bias); err != nil && !strings.Contains(err.Error(), "twice") && !strings.Contains(err.Error(), "named like the intercept") {
						t.Fatalf("%x: Invert(bias %v): %v", b, bias, err)
					}
				}
			}
		}
	})
}

// evaluationBytes encodes an evaluation of 4 bins at threshold 0.5, no
// negatives, pos positives, and one bin at each score, holding binPos.
func evaluationBytes(c model.Confusion, pos int64, scores []float64, binPos []int64) []byte {
	e := encoder{}
	e.f64(0.5)
	e.uint(4)
	e.i64s([]int64{c.TP, c.FP, c.TN, c.FN})
	var zero model.ExactSum
	for range 5 {
		e.exactSum(&zero)
	}
	e.uint(0)
	e.int(pos)
	e.int(0)
	e.exactSum(&zero)
	e.exactSum(&zero)
	e.f64s(scores)
	e.f64s(scores)
	e.i64s(binPos)
	e.i64s(make([]int64, len(scores)))
	e.f64s(make([]float64, len(scores)))
	e.f64s(make([]float64, len(scores)))
	return e.b
}
