package transforms

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
)

// Elements cross every shuffle, so their encoding is most of a runner's
// per-element cost: Beam's default row coder walks each struct by
// reflection. These hand-written coders are compact (varints, float64s as
// their 8 IEEE bytes, so values round-trip exactly) and deterministic,
// which shuffle keys require. Snapshots store the same bytes.

func init() {
	beam.RegisterCoder(reflect.TypeOf(FeatureKey{}), encodeFeatureKey, DecodeFeatureKey)
	beam.RegisterCoder(reflect.TypeOf(Postings{}), encodePostings, DecodePostings)
	beam.RegisterCoder(reflect.TypeOf(LabelBlock{}), encodeLabelBlock, DecodeLabelBlock)
	beam.RegisterCoder(reflect.TypeOf(WeightedPostings{}), encodeWeightedPostings, decodeWeightedPostings)
	beam.RegisterCoder(reflect.TypeOf(SufficientBlock{}), encodeSufficientBlock, decodeSufficientBlock)
	beam.RegisterCoder(reflect.TypeOf(ParsedBlock{}), encodeParsedBlock, decodeParsedBlock)
	beam.RegisterCoder(reflect.TypeOf(model.Row{}), encodeRow, DecodeRow)
	beam.RegisterCoder(reflect.TypeOf(PredictionBlock{}), encodePredictionBlock, DecodePredictionBlock)
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) f64(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) f64s(v []float64) {
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.f64(x)
	}
}
func (e *encoder) i32s(v []int32) {
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.int(int64(x))
	}
}
func (e *encoder) strs(v []string) {
	e.uint(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}
func (e *encoder) i64s(v []int64) {
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.int(x)
	}
}

// ErrMalformed reports bytes that do not decode as the expected element.
var ErrMalformed = errors.New("malformed element encoding")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrMalformed
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) f64() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// count reads a length and checks the record can hold that many items of
// at least min bytes each, so garbage cannot make a huge allocation.
func (d *decoder) count(min int) int {
	n := d.uint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) f64s() []float64 {
	n := d.count(8)
	if n == 0 {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = d.f64()
	}
	return v
}

func (d *decoder) i32s() []int32 {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		x := d.int()
		if x < math.MinInt32 || x > math.MaxInt32 {
			d.fail()
		}
		v[i] = int32(x)
	}
	return v
}

func (d *decoder) i64s() []int64 {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = d.int()
	}
	return v
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

// done reports an error if the record was malformed or has trailing bytes.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrMalformed
	}
	return d.err
}

// AppendFeatureKey appends k's encoding to b.
func AppendFeatureKey(b []byte, k FeatureKey) []byte {
	e := encoder{b: b}
	e.str(k.Name)
	e.int(int64(k.Shard))
	return e.b
}

func encodeFeatureKey(k FeatureKey) []byte { return AppendFeatureKey(nil, k) }

// DecodeFeatureKey is the inverse of AppendFeatureKey.
func DecodeFeatureKey(b []byte) (FeatureKey, error) {
	d := decoder{b: b}
	k := FeatureKey{Name: d.str(), Shard: int32(d.int())}
	return k, d.done()
}

// AppendPostings appends p's encoding to b.
func AppendPostings(b []byte, p Postings) []byte {
	e := encoder{b: b}
	e.int(p.Block)
	e.i32s(p.Rows)
	e.f64s(p.Vals)
	return e.b
}

func encodePostings(p Postings) []byte { return AppendPostings(make([]byte, 0, 8+9*len(p.Rows)), p) }

// DecodePostings is the inverse of AppendPostings.
func DecodePostings(b []byte) (Postings, error) {
	d := decoder{b: b}
	p := Postings{Block: d.int(), Rows: d.i32s(), Vals: d.f64s()}
	if err := d.done(); err != nil {
		return p, err
	}
	if len(p.Rows) != len(p.Vals) {
		return p, ErrMalformed
	}
	return p, nil
}

// AppendLabelBlock appends lb's encoding to b.
func AppendLabelBlock(b []byte, lb LabelBlock) []byte {
	e := encoder{b: b}
	e.int(int64(lb.File))
	e.i64s(lb.Lines)
	e.f64s(lb.Labels)
	return e.b
}

func encodeLabelBlock(lb LabelBlock) []byte { return AppendLabelBlock(nil, lb) }

// DecodeLabelBlock is the inverse of AppendLabelBlock.
func DecodeLabelBlock(b []byte) (LabelBlock, error) {
	d := decoder{b: b}
	lb := LabelBlock{File: int32(d.int()), Lines: d.i64s(), Labels: d.f64s()}
	if err := d.done(); err != nil {
		return lb, err
	}
	if len(lb.Lines) != len(lb.Labels) {
		return lb, ErrMalformed
	}
	return lb, nil
}

func encodeWeightedPostings(w WeightedPostings) []byte {
	e := encoder{b: make([]byte, 0, len(w.Feature)+20+9*len(w.Rows))}
	e.str(w.Feature)
	e.f64(w.W)
	e.f64(w.D)
	e.i32s(w.Rows)
	e.f64s(w.Vals)
	return e.b
}

func decodeWeightedPostings(b []byte) (WeightedPostings, error) {
	d := decoder{b: b}
	w := WeightedPostings{Feature: d.str(), W: d.f64(), D: d.f64(), Rows: d.i32s(), Vals: d.f64s()}
	return w, d.done()
}

func encodeSufficientBlock(sb SufficientBlock) []byte {
	e := encoder{}
	e.int(sb.Block)
	e.int(int64(sb.File))
	e.i64s(sb.Lines)
	e.strs(sb.Features)
	e.f64s(sb.W)
	e.f64s(sb.D)
	e.f64s(sb.Labels)
	e.i32s(sb.ColPtr)
	e.i32s(sb.Rows)
	e.f64s(sb.Vals)
	return e.b
}

func decodeSufficientBlock(b []byte) (SufficientBlock, error) {
	d := decoder{b: b}
	sb := SufficientBlock{Block: d.int(), File: int32(d.int()), Lines: d.i64s(), Features: d.strs(),
		W: d.f64s(), D: d.f64s(), Labels: d.f64s(), ColPtr: d.i32s(), Rows: d.i32s(), Vals: d.f64s()}
	return sb, d.done()
}

func encodeParsedBlock(pb ParsedBlock) []byte {
	e := encoder{}
	e.int(pb.Block)
	e.int(int64(pb.File))
	e.i64s(pb.Lines)
	e.f64s(pb.Labels)
	e.i32s(pb.RowPtr)
	e.strs(pb.Names)
	e.f64s(pb.Vals)
	return e.b
}

func decodeParsedBlock(b []byte) (ParsedBlock, error) {
	d := decoder{b: b}
	pb := ParsedBlock{Block: d.int(), File: int32(d.int()), Lines: d.i64s(), Labels: d.f64s(),
		RowPtr: d.i32s(), Names: d.strs(), Vals: d.f64s()}
	return pb, d.done()
}

// AppendRow appends r's encoding to b.
func AppendRow(b []byte, r model.Row) []byte {
	e := encoder{b: b}
	e.f64(r.W)
	e.f64(r.G)
	e.f64(r.D)
	e.f64(r.H)
	e.f64s(r.S)
	e.f64s(r.Y)
	return e.b
}

func encodeRow(r model.Row) []byte { return AppendRow(make([]byte, 0, 34+16*len(r.S)), r) }

// DecodeRow is the inverse of AppendRow.
func DecodeRow(b []byte) (model.Row, error) {
	d := decoder{b: b}
	r := model.Row{W: d.f64(), G: d.f64(), D: d.f64(), H: d.f64(), S: d.f64s(), Y: d.f64s()}
	if err := d.done(); err != nil {
		return r, err
	}
	if len(r.S) != len(r.Y) {
		return r, ErrMalformed
	}
	return r, nil
}

// AppendPredictionBlock appends b's encoding to dst.
func AppendPredictionBlock(dst []byte, b PredictionBlock) []byte {
	e := encoder{b: dst}
	e.int(b.Block)
	e.int(int64(b.File))
	e.i64s(b.Lines)
	e.f64s(b.Labels)
	e.f64s(b.Margins)
	return e.b
}

func encodePredictionBlock(b PredictionBlock) []byte { return AppendPredictionBlock(nil, b) }

// DecodePredictionBlock is the inverse of AppendPredictionBlock.
func DecodePredictionBlock(b []byte) (PredictionBlock, error) {
	d := decoder{b: b}
	p := PredictionBlock{Block: d.int(), File: int32(d.int()), Lines: d.i64s(), Labels: d.f64s(), Margins: d.f64s()}
	if err := d.done(); err != nil {
		return p, err
	}
	if len(p.Lines) != len(p.Labels) || len(p.Lines) != len(p.Margins) {
		return p, ErrMalformed
	}
	return p, nil
}
