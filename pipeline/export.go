package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.DoFn3x0[int32, transforms.RowPack, func(int32, []byte)](&weightLinesFn{})
	register.DoFn4x1[context.Context, int32, func(*[]byte) bool, func(ShardFile), error](&writeTextShardFn{})
}

// The model's weights are text files of "feature<TAB>weight" lines, sorted
// by feature within each file. A weight is written in the shortest form
// that reads back to the same float64. The intercept is the line whose
// feature is empty (it starts with the tab). A model trained with an L1
// term leaves out the features whose weight is 0 (model.json counts
// them): scoring weighs a feature it does not find 0.

// ExportWeights writes the rows' weights, trained under p, as
// dir/weights-SSSSS-of-NNNNN. Expects PCollection<KV<int32,
// transforms.RowPack>>; returns PCollection<ShardFile>.
func ExportWeights(s beam.Scope, dir string, shards int, rows beam.PCollection, p model.TrainParams) beam.PCollection {
	s = s.Scope("dpmr.ExportWeights")
	lines := beam.ParDo(s, &weightLinesFn{Shards: shards, L1: p.L1, Bias: p.Bias}, rows)
	return beam.ParDo(s, &writeTextShardFn{Dir: dir, Name: "weights", Shards: shards}, beam.GroupByKey(s, lines))
}

// WeightLine formats one line of a weights file.
func WeightLine(name string, w float64) []byte {
	b := make([]byte, 0, len(name)+26)
	b = append(b, name...)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, w, 'g', -1, 64)
	return append(b, '\n')
}

// weightLinesFn formats a partition's weights, one run of lines per
// output shard.
type weightLinesFn struct {
	Shards int
	L1     float64 // zero weights of rows with an L1 term are left out
	Bias   bool
}

func (f *weightLinesFn) ProcessElement(_ int32, pack transforms.RowPack, emit func(int32, []byte)) {
	runs := make([][]byte, f.Shards)
	for i, name := range pack.Names {
		if pack.Rows[i].W == 0 && model.RowStrength(f.L1, f.Bias, name) > 0 {
			continue
		}
		k := shardOfName(name, f.Shards)
		runs[k] = append(runs[k], WeightLine(name, pack.Rows[i].W)...)
	}
	for k, run := range runs {
		if run != nil {
			emit(int32(k), run)
		}
	}
}

// writeTextShardFn writes one sorted text shard.
type writeTextShardFn struct {
	Dir    string
	Name   string
	Shards int
}

func (f *writeTextShardFn) ProcessElement(ctx context.Context, shard int32, lines func(*[]byte) bool, emit func(ShardFile)) error {
	var all [][]byte
	var run []byte
	for lines(&run) {
		for len(run) > 0 {
			n := bytes.IndexByte(run, '\n') + 1
			if n == 0 {
				n = len(run)
			}
			all = append(all, run[:n])
			run = run[n:]
		}
	}
	// Names hold no whitespace, so byte order of the lines is name order.
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i], all[j]) < 0 })
	path := joinPath(f.Dir, ShardName(f.Name, int(shard), f.Shards))
	sf, err := writeWhole(ctx, path, bytes.Join(all, nil))
	if err != nil {
		return err
	}
	sf.Dataset, sf.Records = f.Name, int64(len(all))
	emit(sf)
	return nil
}

// writeWhole writes data as the file path and describes it.
func writeWhole(ctx context.Context, path string, data []byte) (ShardFile, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return ShardFile{}, err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, path)
	if err != nil {
		return ShardFile{}, fmt.Errorf("writing %s: %v", path, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return ShardFile{}, fmt.Errorf("writing %s: %v", path, err)
	}
	if err := w.Close(); err != nil {
		return ShardFile{}, fmt.Errorf("writing %s: %v", path, err)
	}
	return ShardFile{Path: path, Bytes: int64(len(data)), CRC32C: crc32.Checksum(data, castagnoli)}, nil
}
