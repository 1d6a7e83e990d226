package pipeline

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

// Snapshot records are compact binary: uvarint lengths and counts, varint
// integers, float64s as their 8 IEEE bytes (so they round-trip exactly).

func init() {
	register.DoFn3x0[string, model.Row, func(int32, []byte)](&encodeRowFn{})
	register.Emitter2[int32, []byte]()
	register.Function2x1[[]byte, func(string, model.Row), error](decodeRow)
	register.Emitter2[string, model.Row]()
	register.DoFn3x0[transforms.FeatureKey, transforms.Postings, func(int32, []byte)](&encodePostingsFn{})
	register.Function2x1[[]byte, func(transforms.FeatureKey, transforms.Postings), error](decodePostings)
	register.Emitter2[transforms.FeatureKey, transforms.Postings]()
	register.DoFn3x0[int64, transforms.LabelBlock, func(int32, []byte)](&encodeLabelsFn{})
	register.Function2x1[[]byte, func(int64, transforms.LabelBlock), error](decodeLabels)
	register.Emitter2[int64, transforms.LabelBlock]()
	register.DoFn3x0[string, int32, func(int32, []byte)](&encodeHotFn{})
	register.Function2x1[[]byte, func(string, int32), error](decodeHot)
	register.Emitter2[string, int32]()
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
func (e *encoder) i64s(v []int64) {
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.int(x)
	}
}

var errRecord = errors.New("malformed snapshot record")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errRecord
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

// done reports an error if the record was malformed or has trailing bytes.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errRecord
	}
	return d.err
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func shardOfName(name string, shards int) int32 {
	return int32(nameHash(name) % uint64(shards))
}

func shardOfBlock(block int64, shards int) int32 {
	return transforms.BlockShard(block, int32(shards))
}

// EncodeRow and DecodeRow are the rows dataset's record format.
func EncodeRow(name string, r model.Row) []byte {
	e := encoder{b: make([]byte, 0, len(name)+40+16*len(r.S))}
	e.str(name)
	e.f64(r.W)
	e.f64(r.G)
	e.f64(r.D)
	e.f64(r.H)
	e.f64s(r.S)
	e.f64s(r.Y)
	return e.b
}

// DecodeRow is the inverse of EncodeRow.
func DecodeRow(b []byte) (string, model.Row, error) {
	d := decoder{b: b}
	name := d.str()
	r := model.Row{W: d.f64(), G: d.f64(), D: d.f64(), H: d.f64(), S: d.f64s(), Y: d.f64s()}
	return name, r, d.done()
}

type encodeRowFn struct{ Shards int }

func (f *encodeRowFn) ProcessElement(name string, r model.Row, emit func(int32, []byte)) {
	emit(shardOfName(name, f.Shards), EncodeRow(name, r))
}

func decodeRow(b []byte, emit func(string, model.Row)) error {
	name, r, err := DecodeRow(b)
	if err != nil {
		return err
	}
	emit(name, r)
	return nil
}

type encodePostingsFn struct{ Shards int }

func (f *encodePostingsFn) ProcessElement(k transforms.FeatureKey, p transforms.Postings, emit func(int32, []byte)) {
	e := encoder{b: make([]byte, 0, len(k.Name)+16+10*len(p.Rows))}
	e.str(k.Name)
	e.int(int64(k.Shard))
	e.int(p.Block)
	e.i32s(p.Rows)
	e.f64s(p.Vals)
	emit(shardOfBlock(p.Block^int64(nameHash(k.Name)), f.Shards), e.b)
}

func decodePostings(b []byte, emit func(transforms.FeatureKey, transforms.Postings)) error {
	d := decoder{b: b}
	k := transforms.FeatureKey{Name: d.str(), Shard: int32(d.int())}
	p := transforms.Postings{Block: d.int(), Rows: d.i32s(), Vals: d.f64s()}
	if err := d.done(); err != nil {
		return err
	}
	if len(p.Rows) != len(p.Vals) {
		return errRecord
	}
	emit(k, p)
	return nil
}

type encodeLabelsFn struct{ Shards int }

func (f *encodeLabelsFn) ProcessElement(block int64, lb transforms.LabelBlock, emit func(int32, []byte)) {
	e := encoder{}
	e.int(block)
	e.int(int64(lb.File))
	e.i64s(lb.Lines)
	e.f64s(lb.Labels)
	emit(shardOfBlock(block, f.Shards), e.b)
}

func decodeLabels(b []byte, emit func(int64, transforms.LabelBlock)) error {
	d := decoder{b: b}
	block := d.int()
	lb := transforms.LabelBlock{File: int32(d.int()), Lines: d.i64s(), Labels: d.f64s()}
	if err := d.done(); err != nil {
		return err
	}
	if len(lb.Lines) != len(lb.Labels) {
		return errRecord
	}
	emit(block, lb)
	return nil
}

type encodeHotFn struct{ Shards int }

func (f *encodeHotFn) ProcessElement(name string, shards int32, emit func(int32, []byte)) {
	e := encoder{}
	e.str(name)
	e.int(int64(shards))
	emit(shardOfName(name, f.Shards), e.b)
}

func decodeHot(b []byte, emit func(string, int32)) error {
	d := decoder{b: b}
	name, k := d.str(), d.int()
	if err := d.done(); err != nil {
		return err
	}
	emit(name, int32(k))
	return nil
}

// ReadRows reads a rows dataset. Returns PCollection<KV<string, model.Row>>.
func ReadRows(s beam.Scope, files []ShardFile) beam.PCollection {
	return beam.ParDo(s, decodeRow, ReadDataset(s, "rows", files))
}

// WriteRows writes parameter rows as the rows dataset of dir. Expects
// PCollection<KV<string, model.Row>>; returns PCollection<ShardFile>.
func WriteRows(s beam.Scope, dir string, shards int, rows beam.PCollection) beam.PCollection {
	return WriteDataset(s, dir, "rows", shards, beam.ParDo(s, &encodeRowFn{Shards: shards}, rows))
}

// ReadIndex reads the index written by Setup.
func ReadIndex(s beam.Scope, m *Manifest) (postings, labels, hot beam.PCollection) {
	postings = beam.ParDo(s, decodePostings, ReadDataset(s, "postings", m.Dataset("postings")))
	labels = beam.ParDo(s, decodeLabels, ReadDataset(s, "labels", m.Dataset("labels")))
	hot = beam.ParDo(s, decodeHot, ReadDataset(s, "hot", m.Dataset("hot")))
	return postings, labels, hot
}
