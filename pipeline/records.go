package pipeline

import (
	"encoding/binary"
	"hash/fnv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

// A snapshot record is a key and a value: a uvarint length, the key's
// encoding, then the value's, both as the elements' Beam coders write them
// (transforms/coders.go), so floats round-trip exactly.

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

// record frames a key and a value.
func record(key, value []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(key)+len(value))
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(append(b, key...), value...)
}

// splitRecord is the inverse of record.
func splitRecord(b []byte) (key, value []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, transforms.ErrMalformed
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

func stringKey(s string) []byte { return []byte(s) }

func int64Key(v int64) []byte { return binary.AppendVarint(nil, v) }

func decodeInt64Key(b []byte) (int64, error) {
	v, n := binary.Varint(b)
	if n <= 0 || n != len(b) {
		return 0, transforms.ErrMalformed
	}
	return v, nil
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
	return record(stringKey(name), transforms.AppendRow(nil, r))
}

// DecodeRow is the inverse of EncodeRow.
func DecodeRow(b []byte) (string, model.Row, error) {
	k, v, err := splitRecord(b)
	if err != nil {
		return "", model.Row{}, err
	}
	r, err := transforms.DecodeRow(v)
	return string(k), r, err
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
	rec := record(transforms.AppendFeatureKey(nil, k), transforms.AppendPostings(nil, p))
	emit(shardOfBlock(p.Block^int64(nameHash(k.Name)), f.Shards), rec)
}

func decodePostings(b []byte, emit func(transforms.FeatureKey, transforms.Postings)) error {
	k, p, err := decodePostingsRecord(b)
	if err != nil {
		return err
	}
	emit(k, p)
	return nil
}

// decodePostingsRecord splits a postings record into key and postings.
func decodePostingsRecord(b []byte) (transforms.FeatureKey, transforms.Postings, error) {
	kb, vb, err := splitRecord(b)
	if err != nil {
		return transforms.FeatureKey{}, transforms.Postings{}, err
	}
	k, err := transforms.DecodeFeatureKey(kb)
	if err != nil {
		return k, transforms.Postings{}, err
	}
	p, err := transforms.DecodePostings(vb)
	return k, p, err
}

type encodeLabelsFn struct{ Shards int }

func (f *encodeLabelsFn) ProcessElement(block int64, lb transforms.LabelBlock, emit func(int32, []byte)) {
	emit(shardOfBlock(block, f.Shards), record(int64Key(block), transforms.AppendLabelBlock(nil, lb)))
}

func decodeLabels(b []byte, emit func(int64, transforms.LabelBlock)) error {
	kb, vb, err := splitRecord(b)
	if err != nil {
		return err
	}
	block, err := decodeInt64Key(kb)
	if err != nil {
		return err
	}
	lb, err := transforms.DecodeLabelBlock(vb)
	if err != nil {
		return err
	}
	emit(block, lb)
	return nil
}

type encodeHotFn struct{ Shards int }

func (f *encodeHotFn) ProcessElement(name string, shards int32, emit func(int32, []byte)) {
	emit(shardOfName(name, f.Shards), record(stringKey(name), int64Key(int64(shards))))
}

func decodeHot(b []byte, emit func(string, int32)) error {
	kb, vb, err := splitRecord(b)
	if err != nil {
		return err
	}
	k, err := decodeInt64Key(vb)
	if err != nil || k < 2 || k > 1<<30 {
		return transforms.ErrMalformed
	}
	emit(string(kb), int32(k))
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
