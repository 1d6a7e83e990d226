package transforms

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
)

// Elements cross every shuffle, so their encoding is most of a runner's
// per-element cost: Beam's default row coder walks each struct by
// reflection. These hand-written coders are compact (varints, float64s as
// their 8 IEEE bytes, so values round-trip exactly) and deterministic,
// which shuffle keys require. Snapshots store the same bytes, but for a
// RowPack's From, which only a hot feature's copy in a pass has.

func init() {
	beam.RegisterCoder(reflect.TypeOf(ParsedBlock{}), encodeParsedBlock, decodeParsedBlock)
	beam.RegisterCoder(reflect.TypeOf(DocBlock{}), EncodeDocBlock, DecodeDocBlock)
	beam.RegisterCoder(reflect.TypeOf(BlockFeatures{}), encodeBlockFeatures, DecodeBlockFeatures)
	beam.RegisterCoder(reflect.TypeOf(BlockRows{}), encodeBlockRows, DecodeBlockRows)
	beam.RegisterCoder(reflect.TypeOf(BlockWeights{}), encodeBlockWeights, decodeBlockWeights)
	beam.RegisterCoder(reflect.TypeOf(FreqPack{}), encodeFreqPack, decodeFreqPack)
	beam.RegisterCoder(reflect.TypeOf(RowPack{}), encodeRowPack, decodeRowPackElement)
	beam.RegisterCoder(reflect.TypeOf(SufficientBlock{}), encodeSufficientBlock, decodeSufficientBlock)
	beam.RegisterCoder(reflect.TypeOf(GradPack{}), encodeGradPack, decodeGradPack)
	beam.RegisterCoder(reflect.TypeOf(MarginBlock{}), encodeMarginBlock, decodeMarginBlock)
	beam.RegisterCoder(reflect.TypeOf(SearchedBlock{}), encodeSearchedBlock, decodeSearchedBlock)
	beam.RegisterCoder(reflect.TypeOf(KeptMargins{}), EncodeKeptMargins, DecodeKeptMargins)
	beam.RegisterCoder(reflect.TypeOf(PredictionBlock{}), encodePredictionBlock, DecodePredictionBlock)
	beam.RegisterCoder(reflect.TypeOf(Evaluation{}), encodeEvaluation, DecodeEvaluation)
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

// Postings dominate what a pass moves, so matrices get a denser form:
// each column's rows as varint gaps from the previous row of the column
// (rows ascend, so gaps are small), and values, when every one of them is
// a small integer as counts and binary features are, as zigzag varints
// (one byte each instead of eight). Both round-trip exactly.

// Value layouts, the first byte of an encoded value list.
const (
	valsFloat64 = 0
	valsInts    = 1
)

// smallInt reports whether v is an integer the ints layout keeps exactly.
func smallInt(v float64) bool {
	return v == math.Trunc(v) && math.Abs(v) <= 1<<31 && !(v == 0 && math.Signbit(v))
}

func (e *encoder) vals(v []float64) {
	ints := true
	for _, x := range v {
		if !smallInt(x) {
			ints = false
			break
		}
	}
	if !ints {
		e.uint(valsFloat64)
		e.f64s(v)
		return
	}
	e.uint(valsInts)
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.int(int64(x))
	}
}

// csc encodes a column-major matrix: column pointers, row gaps, values.
func (e *encoder) csc(colPtr, rows []int32, vals []float64) {
	e.i32s(colPtr)
	e.uint(uint64(len(rows)))
	c, prev := 0, int32(0)
	for k, r := range rows {
		for c < len(colPtr) && int(colPtr[c]) <= k {
			c++
			prev = 0
		}
		e.int(int64(r - prev))
		prev = r
	}
	e.vals(vals)
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
	v, n := varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint decodes the zigzag varint at the front of b (n <= 0 if there is
// none), taking a one-byte one without a call: most row gaps and small
// integer values are. The loops over a block's entries use it on a local
// slice rather than d.b, which would cost a write barrier per entry.
func varint(b []byte) (v int64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	return binary.Varint(b)
}

// i32 reads an int that must fit in 32 bits, so a damaged file position
// is refused rather than wrapped.
func (d *decoder) i32() int32 {
	x := d.int()
	if x < math.MinInt32 || x > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int32(x)
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
	v, b := make([]int32, n), d.b
	for i := range v {
		x, k := varint(b)
		if k <= 0 || x < math.MinInt32 || x > math.MaxInt32 {
			d.fail()
			return nil
		}
		v[i], b = int32(x), b[k:]
	}
	d.b = b
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

// strs decodes a list of strings as substrings of one string: a block
// holds thousands of feature names, and one allocation for all of them
// instead of one each takes much of a pass's allocation and GC work away.
func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	start, total := d.b, 0
	for range n {
		l, k := binary.Uvarint(d.b)
		if k <= 0 || l > uint64(len(d.b)-k) {
			d.fail()
			return nil
		}
		total += int(l)
		d.b = d.b[k+int(l):]
	}
	var all strings.Builder
	all.Grow(total)
	for rest := start; len(rest) > len(d.b); {
		l, k := binary.Uvarint(rest)
		all.Write(rest[k : k+int(l)])
		rest = rest[k+int(l):]
	}
	joined, v, off := all.String(), make([]string, n), 0
	for i, rest := 0, start; i < n; i++ {
		l, k := binary.Uvarint(rest)
		v[i] = joined[off : off+int(l)]
		off += int(l)
		rest = rest[k+int(l):]
	}
	return v
}

func (d *decoder) vals() []float64 {
	switch d.uint() {
	case valsFloat64:
		return d.f64s()
	case valsInts:
		n := d.count(1)
		if n == 0 {
			return nil
		}
		v, b := make([]float64, n), d.b
		for i := range v {
			x, k := varint(b)
			if k <= 0 || x < -1<<31 || x > 1<<31 {
				d.fail()
				return nil
			}
			v[i], b = float64(x), b[k:]
		}
		d.b = b
		return v
	}
	d.fail()
	return nil
}

// csc is the inverse of encoder.csc. The caller checks the result's
// shape (checkCSC).
func (d *decoder) csc() (colPtr, rows []int32, vals []float64) {
	colPtr = d.i32s()
	if n := d.count(1); n > 0 {
		rows = make([]int32, n)
		c, prev, b := 0, int64(0), d.b
		for k := range rows {
			for c < len(colPtr) && int(colPtr[c]) <= k {
				c++
				prev = 0
			}
			gap, m := varint(b)
			r := prev + gap
			if m <= 0 || r < 0 || r > math.MaxInt32 {
				d.fail()
				return nil, nil, nil
			}
			rows[k], prev, b = int32(r), r, b[m:]
		}
		d.b = b
	}
	return colPtr, rows, d.vals()
}

// done reports an error if the record was malformed or has trailing bytes.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrMalformed
	}
	return d.err
}

// checkCSC checks a column-major matrix of n rows and cols columns: the
// column pointers run from 0 to the postings' count without going back,
// and every row is in range. Decoders call it so that a damaged record is
// refused, never indexed out of bounds.
func checkCSC(n, cols int, colPtr, rows []int32, vals []float64) error {
	if len(rows) != len(vals) {
		return ErrMalformed
	}
	if cols == 0 && len(rows) == 0 && (len(colPtr) == 0 || len(colPtr) == 1 && colPtr[0] == 0) {
		return nil
	}
	if len(colPtr) != cols+1 || colPtr[0] != 0 || int(colPtr[cols]) != len(rows) {
		return ErrMalformed
	}
	for c := 0; c < cols; c++ {
		if colPtr[c] > colPtr[c+1] {
			return ErrMalformed
		}
	}
	for _, r := range rows {
		if r < 0 || int(r) >= n {
			return ErrMalformed
		}
	}
	return nil
}

func encodeParsedBlock(pb ParsedBlock) []byte {
	e := encoder{}
	e.int(pb.Block)
	e.int(int64(pb.File))
	e.i64s(pb.Lines)
	e.f64s(pb.Labels)
	e.vals(pb.Weights)
	e.i32s(pb.RowPtr)
	e.strs(pb.Vocab)
	e.i32s(pb.Cols)
	e.vals(pb.Vals)
	return e.b
}

func decodeParsedBlock(b []byte) (ParsedBlock, error) {
	d := decoder{b: b}
	pb := ParsedBlock{Block: d.int(), File: d.i32(), Lines: d.i64s(), Labels: d.f64s(), Weights: d.vals(),
		RowPtr: d.i32s(), Vocab: d.strs(), Cols: d.i32s(), Vals: d.vals()}
	if err := d.done(); err != nil {
		return pb, err
	}
	return pb, checkParsedBlock(pb)
}

// checkParsedBlock checks a row-major block's shape: one label per line,
// row pointers from 0 to the entries' count without going back, a
// vocabulary strictly ascending and every entry's column in it.
func checkParsedBlock(pb ParsedBlock) error {
	n := len(pb.Lines)
	if len(pb.Labels) != n || len(pb.Vals) != len(pb.Cols) || !weightsFit(pb.Weights, n) {
		return ErrMalformed
	}
	for i := 1; i < len(pb.Vocab); i++ {
		if pb.Vocab[i-1] >= pb.Vocab[i] {
			return ErrMalformed
		}
	}
	for _, c := range pb.Cols {
		if c < 0 || int(c) >= len(pb.Vocab) {
			return ErrMalformed
		}
	}
	if n == 0 && len(pb.RowPtr) <= 1 && len(pb.Cols) == 0 {
		if len(pb.RowPtr) == 1 && pb.RowPtr[0] != 0 {
			return ErrMalformed
		}
		return nil
	}
	if len(pb.RowPtr) != n+1 || pb.RowPtr[0] != 0 || int(pb.RowPtr[n]) != len(pb.Cols) {
		return ErrMalformed
	}
	for i := 0; i < n; i++ {
		if pb.RowPtr[i] > pb.RowPtr[i+1] {
			return ErrMalformed
		}
	}
	return nil
}

func (e *encoder) docBlock(b DocBlock) {
	e.int(b.Block)
	e.int(int64(b.File))
	e.i64s(b.Lines)
	e.vals(b.Labels)
	e.vals(b.Weights)
	e.int(int64(b.Intercept))
	e.csc(b.ColPtr, b.Rows, b.Vals)
}

// EncodeDocBlock is DocBlock's coder, and the index's block records. Its
// buffer is sized up front from the block's shape (enough for float
// values and short row gaps): grown from empty, a block's was copied
// about twice over.
func EncodeDocBlock(b DocBlock) []byte {
	e := encoder{b: make([]byte, 0, 16+16*len(b.Labels)+4*len(b.ColPtr)+10*len(b.Rows))}
	e.docBlock(b)
	return e.b
}

// DecodeDocBlock is the inverse of EncodeDocBlock.
func DecodeDocBlock(b []byte) (DocBlock, error) {
	d := decoder{b: b}
	db := d.docBlock()
	if err := d.done(); err != nil {
		return db, err
	}
	return db, checkDocBlock(db)
}

func (d *decoder) docBlock() DocBlock {
	db := DocBlock{Block: d.int(), File: d.i32(), Lines: d.i64s(), Labels: d.vals(), Weights: d.vals(), Intercept: d.i32()}
	db.ColPtr, db.Rows, db.Vals = d.csc()
	return db
}

// weightsFit tells whether a block's sample weights are none (all 1) or
// one per sample.
func weightsFit(w []float64, n int) bool { return len(w) == 0 || len(w) == n }

// checkDocBlock checks a block's shape: one label per line, rows in
// range, the intercept one of its columns.
func checkDocBlock(db DocBlock) error {
	if len(db.Lines) != len(db.Labels) || !weightsFit(db.Weights, len(db.Labels)) || db.Intercept < 0 || int(db.Intercept) > db.Columns() {
		return ErrMalformed
	}
	return checkCSC(len(db.Labels), db.Columns(), db.ColPtr, db.Rows, db.Vals)
}

// AppendBlockFeatures appends f's encoding to dst.
func AppendBlockFeatures(dst []byte, f BlockFeatures) []byte {
	e := encoder{b: dst}
	e.int(f.Block)
	e.strs(f.Names)
	e.i32s(f.Cols)
	return e.b
}

func encodeBlockFeatures(f BlockFeatures) []byte {
	return AppendBlockFeatures(make([]byte, 0, 8+16*len(f.Names)), f)
}

// DecodeBlockFeatures is the inverse of AppendBlockFeatures.
func DecodeBlockFeatures(b []byte) (BlockFeatures, error) {
	d := decoder{b: b}
	f := BlockFeatures{Block: d.int(), Names: d.strs(), Cols: d.i32s()}
	if err := d.done(); err != nil {
		return f, err
	}
	if len(f.Names) != len(f.Cols) {
		return f, ErrMalformed
	}
	for _, c := range f.Cols {
		if c < 0 {
			return f, ErrMalformed
		}
	}
	return f, nil
}

// AppendBlockRows appends r's encoding to dst.
func AppendBlockRows(dst []byte, r BlockRows) []byte {
	e := encoder{b: dst}
	e.int(r.Block)
	e.i32s(r.Cols)
	e.ids(r.IDs)
	return e.b
}

func encodeBlockRows(r BlockRows) []byte {
	return AppendBlockRows(make([]byte, 0, 8+4*len(r.Cols)), r)
}

// DecodeBlockRows is the inverse of AppendBlockRows.
func DecodeBlockRows(b []byte) (BlockRows, error) {
	d := decoder{b: b}
	r := BlockRows{Block: d.int(), Cols: d.i32s(), IDs: d.ids()}
	if err := d.done(); err != nil {
		return r, err
	}
	if len(r.IDs) != len(r.Cols) {
		return r, ErrMalformed
	}
	for i, c := range r.Cols {
		if id := r.IDs[i]; c < 0 || id != NoRow && (id.Part < 0 || id.Pos < 0) {
			return r, ErrMalformed
		}
	}
	return r, nil
}

func encodeBlockWeights(w BlockWeights) []byte {
	e := encoder{b: make([]byte, 0, 12+20*len(w.Cols))}
	e.int(w.Block)
	e.i32s(w.Cols)
	e.ids(w.IDs)
	e.f64s(w.W)
	e.f64s(w.D)
	e.f64s(w.G)
	e.f64s(w.H)
	e.f64s(w.U)
	return e.b
}

func decodeBlockWeights(b []byte) (BlockWeights, error) {
	d := decoder{b: b}
	w := BlockWeights{Block: d.int(), Cols: d.i32s(), IDs: d.ids(), W: d.f64s(), D: d.f64s(), G: d.f64s(), H: d.f64s(), U: d.f64s()}
	if err := d.done(); err != nil {
		return w, err
	}
	if len(w.IDs) != len(w.Cols) || !perColumn(len(w.W)+len(w.G), len(w.Cols)) || len(w.D) != len(w.W) || len(w.H) != len(w.G) ||
		w.U != nil && len(w.U) != len(w.G) || (w.G != nil && w.W != nil) {
		return w, ErrMalformed
	}
	return w, nil
}

// perColumn tells whether n values are one or, under multiclass, K per
// column of cols (model.Block's layout).
func perColumn(n, cols int) bool {
	if cols == 0 {
		return n == 0
	}
	return n >= cols && n%cols == 0 && n/cols <= model.MaxClasses
}

// ids encodes a list of row ids as their partitions, then their
// positions, each as differences (deltas): a partition's ids share their
// Part and have ascending positions, so most take two bytes.
func (e *encoder) ids(v []RowID) {
	e.deltas(len(v), func(i int) int32 { return v[i].Part })
	e.deltas(len(v), func(i int) int32 { return v[i].Pos })
}

func (d *decoder) ids() []RowID {
	n := d.count(1)
	if n == 0 {
		d.deltas(d.count(1), nil) // the positions' empty list
		return nil
	}
	v := make([]RowID, n)
	d.deltas(n, func(i int, x int32) { v[i].Part = x })
	if d.count(1) != n {
		d.fail()
		return nil
	}
	d.deltas(n, func(i int, x int32) { v[i].Pos = x })
	return v
}

// positions encodes a list of row positions as deltas.
func (e *encoder) positions(v []int32) {
	e.deltas(len(v), func(i int) int32 { return v[i] })
}

func (d *decoder) positions() []int32 {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	v := make([]int32, n)
	d.deltas(n, func(i int, x int32) { v[i] = x })
	return v
}

// deltas encodes n int32s, at(0) to at(n-1), after their count, each as
// its difference from the one before: small for positions in one
// partition.
func (e *encoder) deltas(n int, at func(int) int32) {
	e.uint(uint64(n))
	var last int32
	for i := range n {
		x := at(i)
		e.int(int64(x) - int64(last))
		last = x
	}
}

// deltas decodes the n values of a list whose count the caller has read,
// passing each to set (nil for a list that must be empty).
func (d *decoder) deltas(n int, set func(i int, x int32)) {
	if set == nil && n > 0 {
		d.fail()
		return
	}
	var x int64
	for i := range n {
		x += d.int()
		if x < math.MinInt32 || x > math.MaxInt32 {
			d.fail()
			return
		}
		set(i, int32(x))
	}
}

// sparseRows encodes an optional list of rows with only the fields that
// some row sets: a mask of them (rowW ... rowY), then each row's. Subspace's
// trips send the blocks rows with two or three fields set (RowFields), so
// a pair costs 16 or 24 bytes instead of a whole row's 42. A field is left
// out only when every row's is +0 bit for bit, so -0 and NaNs round-trip.
func (e *encoder) sparseRows(rs []model.Row) {
	e.uint(uint64(len(rs)))
	if len(rs) == 0 {
		return
	}
	var mask uint64
	for _, r := range rs {
		for i, v := range [...]float64{r.W, r.G, r.D, r.H, r.U} {
			if math.Float64bits(v) != 0 {
				mask |= 1 << i
			}
		}
		if len(r.S) > 0 {
			mask |= rowS
		}
		if len(r.Y) > 0 {
			mask |= rowY
		}
	}
	e.uint(mask)
	for _, r := range rs {
		for i, v := range [...]float64{r.W, r.G, r.D, r.H, r.U} {
			if mask&(1<<i) != 0 {
				e.f64(v)
			}
		}
		if mask&rowS != 0 {
			e.f64s(r.S)
		}
		if mask&rowY != 0 {
			e.f64s(r.Y)
		}
	}
}

// The bits of sparseRows' mask: W, G, D, H and U are bits 0 to 4.
const (
	rowS = 1 << 5
	rowY = 1 << 6
)

// sparseRows decodes what sparseRows encoded, at most max rows (rows of
// no set field take no bytes, so the input's length does not bound them).
func (d *decoder) sparseRows(max int) []model.Row {
	n := d.uint()
	if n > uint64(max) {
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	mask := d.uint()
	if mask >= 1<<7 {
		d.fail()
		return nil
	}
	rs := make([]model.Row, int(n))
	for i := range rs {
		r := &rs[i]
		for b, f := range [...]*float64{&r.W, &r.G, &r.D, &r.H, &r.U} {
			if mask&(1<<b) != 0 {
				*f = d.f64()
			}
		}
		if mask&rowS != 0 {
			r.S = d.f64s()
		}
		if mask&rowY != 0 {
			r.Y = d.f64s()
		}
		if len(r.Y) != len(r.S) && len(r.Y) != 0 {
			d.fail()
			return nil
		}
	}
	return rs
}

func encodeFreqPack(f FreqPack) []byte {
	e := encoder{b: make([]byte, 0, 4+24*len(f.Names))}
	e.strs(f.Names)
	e.i64s(f.Postings)
	e.f64s(f.SumSq)
	return e.b
}

func decodeFreqPack(b []byte) (FreqPack, error) {
	d := decoder{b: b}
	f := FreqPack{Names: d.strs(), Postings: d.i64s(), SumSq: d.f64s()}
	if err := d.done(); err != nil {
		return f, err
	}
	if len(f.Postings) != len(f.Names) || len(f.SumSq) != len(f.Names) {
		return f, ErrMalformed
	}
	return f, nil
}

// AppendRow appends r's encoding to b.
func AppendRow(b []byte, r model.Row) []byte {
	e := encoder{b: b}
	e.row(r)
	return e.b
}

func (e *encoder) row(r model.Row) {
	e.f64(r.W)
	e.f64(r.G)
	e.f64(r.D)
	e.f64(r.H)
	e.f64(r.U)
	e.f64s(r.S)
	e.f64s(r.Y)
}

// row decodes a row; noU reads the encoding of snapshots written before
// rows had U (snapshot format 2 and older).
func (d *decoder) row(noU bool) model.Row {
	r := model.Row{W: d.f64(), G: d.f64(), D: d.f64(), H: d.f64()}
	if !noU {
		r.U = d.f64()
	}
	r.S, r.Y = d.f64s(), d.f64s()
	// lbfgs keeps pairs; subspace keeps steps only.
	if len(r.Y) != len(r.S) && len(r.Y) != 0 {
		d.fail()
	}
	return r
}

// DecodeRow is the inverse of AppendRow.
func DecodeRow(b []byte) (model.Row, error) {
	d := decoder{b: b}
	r := d.row(false)
	return r, d.done()
}

// AppendRowPack appends p's encoding to dst.
func AppendRowPack(dst []byte, p RowPack) []byte {
	e := encoder{b: dst}
	e.strs(p.Names)
	e.uint(uint64(len(p.Rows)))
	for _, r := range p.Rows {
		e.row(r)
	}
	return e.b
}

// encodeRowPack is the shuffle's encoding of a row pack: a snapshot's,
// then where a hot feature's copy came from (RowPack.From).
func encodeRowPack(p RowPack) []byte {
	n := 12
	if len(p.Rows) > 0 {
		n += len(p.Rows) * (48 + 16*len(p.Rows[0].S))
	}
	e := encoder{b: AppendRowPack(make([]byte, 0, n), p)}
	if p.From == nil {
		e.uint(0)
	} else {
		e.uint(1)
		e.int(int64(p.From.Part))
		e.int(int64(p.From.Pos))
	}
	return e.b
}

// decodeRowPackElement is the inverse of encodeRowPack.
func decodeRowPackElement(b []byte) (RowPack, error) {
	d := decoder{b: b}
	p := d.rowPack(false, true)
	switch d.uint() {
	case 0:
	case 1:
		p.From = &RowID{Part: d.i32(), Pos: d.i32()}
	default:
		d.fail()
	}
	return p, d.done()
}

// DecodeRowPack is the inverse of AppendRowPack.
func DecodeRowPack(b []byte) (RowPack, error) { return decodeRowPack(b, false) }

// DecodeRowPackWithoutU decodes a row pack as snapshots of format 2 and
// older stored it, before rows had U.
func DecodeRowPackWithoutU(b []byte) (RowPack, error) { return decodeRowPack(b, true) }

func decodeRowPack(b []byte, noU bool) (RowPack, error) {
	d := decoder{b: b}
	p := d.rowPack(noU, false)
	return p, d.done()
}

// rowPack decodes a row pack as AppendRowPack wrote it: one row per name,
// or, as a shuffle's element, either list alone: DistributeParameters
// sends rows without their names, AssignRowIDs names without rows.
func (d *decoder) rowPack(noU, element bool) RowPack {
	p := RowPack{Names: d.strs()}
	if n := d.count(34); n > 0 {
		p.Rows = make([]model.Row, n)
		for i := range p.Rows {
			p.Rows[i] = d.row(noU)
		}
	}
	if len(p.Rows) != len(p.Names) && !(element && (len(p.Rows) == 0 || len(p.Names) == 0)) {
		d.fail()
	}
	return p
}

func encodeSufficientBlock(sb SufficientBlock) []byte {
	e := encoder{}
	e.docBlock(sb.DocBlock)
	e.ids(sb.IDs)
	e.f64s(sb.W)
	e.f64s(sb.D)
	e.sparseRows(sb.ParamRows)
	e.margins(sb.Kept)
	return e.b
}

func decodeSufficientBlock(b []byte) (SufficientBlock, error) {
	d := decoder{b: b}
	sb := SufficientBlock{DocBlock: d.docBlock(), IDs: d.ids(), W: d.f64s(), D: d.f64s()}
	sb.ParamRows = d.sparseRows(sb.Columns() * model.MaxClasses)
	sb.Kept = d.optionalMargins(len(sb.Labels))
	if err := d.done(); err != nil {
		return sb, err
	}
	if len(sb.IDs) != sb.Columns() || !perColumn(len(sb.W)+len(sb.ParamRows), sb.Columns()) || len(sb.D) != len(sb.W) || (sb.ParamRows != nil && sb.W != nil) {
		return sb, ErrMalformed
	}
	return sb, checkDocBlock(sb.DocBlock)
}

func (e *encoder) margins(m model.SubspaceMargins) {
	e.f64s(m.ZW)
	e.uint(uint64(len(m.Z)))
	for _, z := range m.Z {
		e.f64s(z)
	}
}

// margins decodes a block's margins; every vector has one entry per row
// (rows < 0: as many as ZW).
func (d *decoder) margins(rows int) model.SubspaceMargins {
	m := model.SubspaceMargins{ZW: d.f64s()}
	if rows < 0 {
		rows = len(m.ZW)
	}
	if n := d.count(1); n > 0 {
		m.Z = make([][]float64, n)
		for a := range m.Z {
			m.Z[a] = d.f64s()
		}
	}
	if len(m.ZW) != rows {
		d.fail()
	}
	for _, z := range m.Z {
		if len(z) != rows {
			d.fail()
		}
	}
	return m
}

// optionalMargins decodes margins that may be absent (no vector at all).
func (d *decoder) optionalMargins(rows int) model.SubspaceMargins {
	m := d.margins(-1)
	if m.ZW == nil && m.Z != nil || m.ZW != nil && len(m.ZW) != rows {
		d.fail()
	}
	return m
}

// EncodeKeptMargins is the encoding of a block's kept margins, in the
// shuffle and in a snapshot's margins dataset.
func EncodeKeptMargins(k KeptMargins) []byte {
	e := encoder{b: make([]byte, 0, 16+8*len(k.Margins.ZW)*(1+len(k.Margins.Z)))}
	e.int(k.Block)
	e.margins(k.Margins)
	return e.b
}

// DecodeKeptMargins is the inverse of EncodeKeptMargins.
func DecodeKeptMargins(b []byte) (KeptMargins, error) {
	d := decoder{b: b}
	k := KeptMargins{Block: d.int()}
	k.Margins = d.margins(-1)
	return k, d.done()
}

func encodeMarginBlock(b MarginBlock) []byte {
	e := encoder{b: make([]byte, 0, 16+8*len(b.Labels)*(2+len(b.Margins.Z)))}
	e.int(b.Block)
	e.f64s(b.Labels)
	e.vals(b.Weights)
	e.margins(b.Margins)
	return e.b
}

func decodeMarginBlock(b []byte) (MarginBlock, error) {
	d := decoder{b: b}
	mb := MarginBlock{Block: d.int(), Labels: d.f64s(), Weights: d.vals()}
	mb.Margins = d.margins(len(mb.Labels))
	if err := d.done(); err != nil {
		return mb, err
	}
	if !weightsFit(mb.Weights, len(mb.Labels)) {
		return mb, ErrMalformed
	}
	return mb, nil
}

func encodeSearchedBlock(b SearchedBlock) []byte {
	e := encoder{}
	e.int(b.Block)
	e.ids(b.IDs)
	e.margins(b.Margins)
	return e.b
}

func decodeSearchedBlock(b []byte) (SearchedBlock, error) {
	d := decoder{b: b}
	sb := SearchedBlock{Block: d.int(), IDs: d.ids()}
	sb.Margins = d.margins(-1)
	return sb, d.done()
}

func encodeGradPack(g GradPack) []byte {
	e := encoder{b: make([]byte, 0, 4+36*len(g.Pos))}
	e.positions(g.Pos)
	e.f64s(g.G)
	e.f64s(g.Curv)
	e.f64s(g.LocalW)
	e.f64s(g.Newton)
	return e.b
}

func decodeGradPack(b []byte) (GradPack, error) {
	d := decoder{b: b}
	g := GradPack{Pos: d.positions(), G: d.f64s(), Curv: d.f64s(), LocalW: d.f64s(), Newton: d.f64s()}
	if err := d.done(); err != nil {
		return g, err
	}
	n := len(g.Pos)
	if g.G != nil && len(g.G) != n || g.Curv != nil && len(g.Curv) != n || g.LocalW != nil && len(g.LocalW) != n || g.Newton != nil && len(g.Newton) != n {
		return g, ErrMalformed
	}
	return g, nil
}

// AppendPredictionBlock appends b's encoding to dst.
func AppendPredictionBlock(dst []byte, b PredictionBlock) []byte {
	e := encoder{b: dst}
	e.int(b.Block)
	e.int(int64(b.File))
	e.i64s(b.Lines)
	e.f64s(b.Labels)
	e.vals(b.Weights)
	e.f64s(b.Margins)
	return e.b
}

func encodePredictionBlock(b PredictionBlock) []byte { return AppendPredictionBlock(nil, b) }

// DecodePredictionBlock is the inverse of AppendPredictionBlock.
func DecodePredictionBlock(b []byte) (PredictionBlock, error) {
	d := decoder{b: b}
	p := PredictionBlock{Block: d.int(), File: d.i32(), Lines: d.i64s(), Labels: d.f64s(), Weights: d.vals(), Margins: d.f64s()}
	if err := d.done(); err != nil {
		return p, err
	}
	if len(p.Lines) != len(p.Labels) || !perColumn(len(p.Margins), len(p.Lines)) || !weightsFit(p.Weights, len(p.Lines)) {
		return p, ErrMalformed
	}
	return p, nil
}

// AppendEvaluation appends the encoding of an Evaluator's state (its
// model.EvaluatorState) to dst.
func AppendEvaluation(dst []byte, a Evaluation) []byte {
	st := a.E.State()
	e := encoder{b: dst}
	e.f64(st.Threshold)
	e.uint(uint64(st.AUCBins))
	c := st.Confusion
	e.i64s([]int64{c.TP, c.FP, c.TN, c.FN})
	for i := range st.CellWeights {
		e.exactSum(&st.CellWeights[i])
	}
	e.exactSum(&st.Loss)
	weighted := uint64(0)
	if st.Weighted {
		weighted = 1
	}
	e.uint(weighted)
	e.int(st.Pos)
	e.int(st.Neg)
	e.exactSum(&st.WPos)
	e.exactSum(&st.WNeg)
	e.f64s(st.Lo)
	e.f64s(st.Hi)
	e.i64s(st.BinPos)
	e.i64s(st.BinNeg)
	e.f64s(st.BinWPos)
	e.f64s(st.BinWNeg)
	return e.b
}

func encodeEvaluation(a Evaluation) []byte { return AppendEvaluation(nil, a) }

// DecodeEvaluation is the inverse of AppendEvaluation; a state no
// Evaluator could have is malformed too.
func DecodeEvaluation(b []byte) (Evaluation, error) {
	d := decoder{b: b}
	st := model.EvaluatorState{Threshold: d.f64()}
	bins := d.uint()
	if bins > 1<<30 {
		d.fail()
	}
	st.AUCBins = int(bins)
	if c := d.i64s(); len(c) == 4 {
		st.Confusion = model.Confusion{TP: c[0], FP: c[1], TN: c[2], FN: c[3]}
	} else {
		d.fail()
	}
	for i := range st.CellWeights {
		d.exactSum(&st.CellWeights[i])
	}
	d.exactSum(&st.Loss)
	st.Weighted = d.uint() == 1
	st.Pos, st.Neg = d.int(), d.int()
	d.exactSum(&st.WPos)
	d.exactSum(&st.WNeg)
	st.Lo, st.Hi, st.BinPos, st.BinNeg, st.BinWPos, st.BinWNeg = d.f64s(), d.f64s(), d.i64s(), d.i64s(), d.f64s(), d.f64s()
	if err := d.done(); err != nil {
		return Evaluation{}, err
	}
	e, err := model.EvaluatorFromState(st)
	if err != nil {
		return Evaluation{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Evaluation{e}, nil
}

// exactSum encodes a model.ExactSum's fields as they are.
func (e *encoder) exactSum(s *model.ExactSum) {
	e.int(int64(s.Lo))
	e.i64s(s.Chunks)
	e.int(int64(s.Pending))
	e.uint(uint64(s.Special))
}

func (d *decoder) exactSum(s *model.ExactSum) {
	s.Lo = d.i32()
	s.Chunks = d.i64s()
	pending := d.int()
	special := d.uint()
	if pending < 0 || pending > math.MaxInt32 || special > math.MaxUint8 {
		d.fail()
		return
	}
	s.Pending, s.Special = int32(pending), uint8(special)
}
