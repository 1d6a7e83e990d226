package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// An Evaluator travels between a pipeline's workers (a combiner's
// accumulator) and is kept in a pass's snapshot, so it has a binary form:
// its threshold, confusion counts and sums, and its histogram's bins after
// a fold (the pending scores are folded first). Integers are varints,
// floats their 8 bits.

// MarshalBinary encodes e; it folds e's pending scores first.
func (e *Evaluator) MarshalBinary() ([]byte, error) {
	h := e.hist
	h.fold()
	b := binary.AppendUvarint(nil, evalCodecVersion)
	b = appendFloat(b, e.threshold)
	b = binary.AppendUvarint(b, uint64(h.maxBins))
	for _, n := range []int64{e.c.TP, e.c.FP, e.c.TN, e.c.FN} {
		b = binary.AppendVarint(b, n)
	}
	for i := range e.w {
		b = appendExactSum(b, &e.w[i])
	}
	b = appendExactSum(b, &e.loss)
	weighted := uint64(0)
	if h.weighted {
		weighted = 1
	}
	b = binary.AppendUvarint(b, weighted)
	b = binary.AppendVarint(b, h.pos)
	b = binary.AppendVarint(b, h.neg)
	b = appendExactSum(b, &h.wpos)
	b = appendExactSum(b, &h.wneg)
	b = binary.AppendUvarint(b, uint64(len(h.bins)))
	for _, bin := range h.bins {
		b = appendFloat(b, bin.lo)
		b = appendFloat(b, bin.hi)
		b = binary.AppendVarint(b, bin.pos)
		b = binary.AppendVarint(b, bin.neg)
		b = appendFloat(b, bin.wpos)
		b = appendFloat(b, bin.wneg)
	}
	return b, nil
}

// evalCodecVersion is the version of MarshalBinary's form.
const evalCodecVersion = 1

// UnmarshalBinary decodes what MarshalBinary encoded into e, replacing
// what e held; damaged input is an error, never a panic.
func (e *Evaluator) UnmarshalBinary(data []byte) error {
	d := evalDecoder{b: data}
	if v := d.uvarint(); d.err == nil && v != evalCodecVersion {
		return fmt.Errorf("evaluation: version %d, this dpmr reads %d", v, evalCodecVersion)
	}
	threshold := d.float()
	maxBins := d.uvarint()
	if d.err == nil && (math.IsNaN(threshold) || maxBins < 2 || maxBins > 1<<30) {
		return fmt.Errorf("evaluation: threshold %v and %d AUC bins", threshold, maxBins)
	}
	out := Evaluator{threshold: threshold, hist: NewScoreHistogram(max(int(maxBins), 2))}
	out.c = Confusion{TP: d.varint(), FP: d.varint(), TN: d.varint(), FN: d.varint()}
	for i := range out.w {
		d.exactSum(&out.w[i])
	}
	d.exactSum(&out.loss)
	h := out.hist
	h.weighted = d.uvarint() == 1
	h.pos, h.neg = d.varint(), d.varint()
	d.exactSum(&h.wpos)
	d.exactSum(&h.wneg)
	n := d.uvarint()
	if d.err == nil && n > maxBins {
		return fmt.Errorf("evaluation: %d bins, more than its %d", n, maxBins)
	}
	if d.err == nil && n > uint64(len(d.b)/(4*8+2)) {
		return errors.New("evaluation: truncated")
	}
	h.bins = make([]scoreBin, 0, n)
	for range n {
		h.bins = append(h.bins, scoreBin{lo: d.float(), hi: d.float(), pos: d.varint(), neg: d.varint(), wpos: d.float(), wneg: d.float()})
	}
	if d.err != nil {
		return fmt.Errorf("evaluation: %v", d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("evaluation: %d bytes after its end", len(d.b))
	}
	*e = out
	return nil
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendExactSum(b []byte, s *ExactSum) []byte {
	b = binary.AppendVarint(b, int64(s.Lo))
	b = binary.AppendUvarint(b, uint64(len(s.Chunks)))
	for _, c := range s.Chunks {
		b = binary.AppendVarint(b, c)
	}
	b = binary.AppendVarint(b, int64(s.Pending))
	return append(b, s.Special)
}

// evalDecoder reads UnmarshalBinary's fields; after the first error every
// read gives 0 and err says what went wrong.
type evalDecoder struct {
	b   []byte
	err error
}

func (d *evalDecoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated")
	}
	d.b = nil
}

func (d *evalDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *evalDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *evalDecoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *evalDecoder) exactSum(s *ExactSum) {
	lo := d.varint()
	n := d.uvarint()
	if d.err == nil && (n > uint64(len(d.b)) || lo < math.MinInt32 || lo > math.MaxInt32) {
		d.err = errors.New("a damaged exact sum")
		d.b = nil
		return
	}
	s.Lo = int32(lo)
	s.Chunks = nil
	for range n {
		s.Chunks = append(s.Chunks, d.varint())
	}
	pending := d.varint()
	if d.err == nil && (pending < 0 || pending > maxPending) {
		d.err = errors.New("a damaged exact sum")
		d.b = nil
		return
	}
	s.Pending = int32(pending)
	if len(d.b) < 1 {
		d.fail()
		return
	}
	s.Special, d.b = d.b[0], d.b[1:]
}
