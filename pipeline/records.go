package pipeline

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/transforms"
)

// A snapshot record is a key and a value: a uvarint length, the key's
// encoding, then the value's, both as the elements' Beam coders write them
// (transforms/coders.go), so floats round-trip exactly.

func init() {
	register.DoFn3x0[int32, transforms.RowPack, func(int32, []byte)](&encodeRowsFn{})
	register.Emitter2[int32, []byte]()
	register.DoFn2x1[[]byte, func(int32, transforms.RowPack), error](&decodeRowsFn{})
	register.Emitter2[int32, transforms.RowPack]()
	register.DoFn3x0[int32, transforms.BlockRows, func(int32, []byte)](&encodeFeaturesFn{})
	register.Function2x1[[]byte, func(int32, transforms.BlockRows), error](decodeFeatures)
	register.Emitter2[int32, transforms.BlockRows]()
	register.DoFn3x0[int64, transforms.DocBlock, func(int32, []byte)](&encodeDocsFn{})
	register.Function2x1[[]byte, func(int64, transforms.DocBlock), error](decodeDocs)
	register.Emitter2[int64, transforms.DocBlock]()
	register.DoFn2x0[transforms.KeptMargins, func(int32, []byte)](&encodeMarginsFn{})
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

// partitionKey and decodePartitionKey frame a partition number.
func partitionKey(p int32) []byte { return int64Key(int64(p)) }

func decodePartitionKey(b []byte) (int32, error) {
	v, err := decodeInt64Key(b)
	if err != nil || v < 0 || v > 1<<30 {
		return 0, transforms.ErrMalformed
	}
	return int32(v), nil
}

// EncodeRows is the rows dataset's record format: a partition's rows.
func EncodeRows(p int32, pack transforms.RowPack) []byte {
	return record(partitionKey(p), transforms.AppendRowPack(nil, pack))
}

// DecodeRows is the inverse of EncodeRows. noU reads rows written before
// they had U (snapshot formats before rowsWithU).
func DecodeRows(b []byte, noU bool) (int32, transforms.RowPack, error) {
	k, v, err := splitRecord(b)
	if err != nil {
		return 0, transforms.RowPack{}, err
	}
	p, err := decodePartitionKey(k)
	if err != nil {
		return 0, transforms.RowPack{}, err
	}
	decode := transforms.DecodeRowPack
	if noU {
		decode = transforms.DecodeRowPackWithoutU
	}
	pack, err := decode(v)
	return p, pack, err
}

type encodeRowsFn struct{ Shards int }

func (f *encodeRowsFn) ProcessElement(p int32, pack transforms.RowPack, emit func(int32, []byte)) {
	emit(p%int32(f.Shards), EncodeRows(p, pack))
}

// notDecodable reports a snapshot record that does not decode. A shard
// file is streamed and checked against its manifest once read to the end,
// so a damaged record can reach its decoder first: it is the same damage.
func notDecodable(dataset string, err error) error {
	return fmt.Errorf("%w: a %s record does not decode: %w", ErrCorrupt, dataset, err)
}

type decodeRowsFn struct{ NoU bool }

func (f *decodeRowsFn) ProcessElement(b []byte, emit func(int32, transforms.RowPack)) error {
	p, pack, err := DecodeRows(b, f.NoU)
	if err != nil {
		return notDecodable("rows", err)
	}
	emit(p, pack)
	return nil
}

// encodeFeaturesFn writes the index's block features as AssignRowIDs
// resolved them: columns and row ids, no names.
type encodeFeaturesFn struct{ Shards int }

func (f *encodeFeaturesFn) ProcessElement(p int32, br transforms.BlockRows, emit func(int32, []byte)) {
	emit(p%int32(f.Shards), record(partitionKey(p), transforms.AppendBlockRows(nil, br)))
}

func decodeFeatures(b []byte, emit func(int32, transforms.BlockRows)) error {
	p, bf, err := decodeFeaturesRecord(b)
	if err != nil {
		return notDecodable("features", err)
	}
	emit(p, bf)
	return nil
}

// decodeFeaturesRecord splits a block features record into its partition
// and value.
func decodeFeaturesRecord(b []byte) (int32, transforms.BlockRows, error) {
	kb, vb, err := splitRecord(b)
	if err != nil {
		return 0, transforms.BlockRows{}, err
	}
	p, err := decodePartitionKey(kb)
	if err != nil {
		return 0, transforms.BlockRows{}, err
	}
	br, err := transforms.DecodeBlockRows(vb)
	return p, br, err
}

type encodeDocsFn struct{ Shards int }

func (f *encodeDocsFn) ProcessElement(block int64, doc transforms.DocBlock, emit func(int32, []byte)) {
	emit(shardOfBlock(block, f.Shards), record(int64Key(block), transforms.EncodeDocBlock(doc)))
}

func decodeDocs(b []byte, emit func(int64, transforms.DocBlock)) error {
	block, doc, err := decodeDocsRecord(b)
	if err != nil {
		return notDecodable("blocks", err)
	}
	emit(block, doc)
	return nil
}

func decodeDocsRecord(b []byte) (int64, transforms.DocBlock, error) {
	kb, vb, err := splitRecord(b)
	if err != nil {
		return 0, transforms.DocBlock{}, err
	}
	block, err := decodeInt64Key(kb)
	if err != nil {
		return 0, transforms.DocBlock{}, err
	}
	doc, err := transforms.DecodeDocBlock(vb)
	return block, doc, err
}

// encodeMarginsFn writes a block's kept margins to the shard its index
// record is in, so that a pass reads them beside it (RestoreFromIndex).
type encodeMarginsFn struct{ Shards int }

func (f *encodeMarginsFn) ProcessElement(k transforms.KeptMargins, emit func(int32, []byte)) {
	emit(shardOfBlock(k.Block, f.Shards), transforms.EncodeKeptMargins(k))
}

type encodeHotFn struct{ Shards int }

func (f *encodeHotFn) ProcessElement(name string, shards int32, emit func(int32, []byte)) {
	emit(shardOfName(name, f.Shards), record(stringKey(name), int64Key(int64(shards))))
}

func decodeHot(b []byte, emit func(string, int32)) error {
	kb, vb, err := splitRecord(b)
	if err != nil {
		return notDecodable("hot", err)
	}
	k, err := decodeInt64Key(vb)
	if err != nil || k < 2 || k > 1<<30 {
		return notDecodable("hot", transforms.ErrMalformed)
	}
	emit(string(kb), int32(k))
	return nil
}

// ReadRows reads a rows dataset. Returns PCollection<KV<int32,
// transforms.RowPack>>.
func ReadRows(s beam.Scope, files []ShardFile) beam.PCollection {
	return beam.ParDo(s, rowsDecoder(files), ReadDataset(s, "rows", files))
}

// rowsDecoder decodes the rows of files in the format they were written
// in (all files of a dataset come from one manifest).
func rowsDecoder(files []ShardFile) *decodeRowsFn {
	return &decodeRowsFn{NoU: len(files) > 0 && files[0].Format != 0 && files[0].Format < rowsWithU}
}

// WriteRows writes parameter rows as the rows dataset of dir. Expects
// PCollection<KV<int32, transforms.RowPack>>; returns PCollection<ShardFile>.
func WriteRows(s beam.Scope, dir string, shards int, rows beam.PCollection) beam.PCollection {
	return WriteDataset(s, dir, "rows", shards, beam.ParDo(s, &encodeRowsFn{Shards: shards}, rows))
}

// ReadFeatures reads the index's block features, as BlockRows, and its hot
// table: what a training pass reads of it through the runner (RestoreFromIndex reads
// the blocks themselves).
func ReadFeatures(s beam.Scope, m *Manifest) (features, hot beam.PCollection) {
	features = beam.ParDo(s, decodeFeatures, ReadDataset(s, "features", m.Dataset("features")))
	hot = beam.ParDo(s, decodeHot, ReadDataset(s, "hot", m.Dataset("hot")))
	return features, hot
}
