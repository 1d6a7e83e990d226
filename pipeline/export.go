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
	register.DoFn3x1[int32, transforms.RowPack, func(int32, []byte), error](&weightLinesFn{})
	register.DoFn4x1[context.Context, int32, func(*[]byte) bool, func(ShardFile), error](&writeTextShardFn{})
}

// The model's weights are text files of "feature<TAB>weight" lines, sorted
// by feature within each file. A weight is written in the shortest form
// that reads back to the same float64. The intercept is the line whose
// feature is empty (it starts with the tab). A model trained with an L1
// term leaves out the features whose weight is 0 (model.json counts
// them): scoring weighs a feature it does not find 0. A multiclass
// model's lines are "feature<TAB>w_0<TAB>...<TAB>w_K-1", a weight per
// class, gathered from the feature's K rows (model.ClassRow), which its
// partition holds side by side; with an L1 term a feature is left out
// when all K are 0.

// ExportWeights writes the rows' weights, trained under p, as
// dir/weights-SSSSS-of-NNNNN. Expects PCollection<KV<int32,
// transforms.RowPack>>; returns PCollection<ShardFile>.
func ExportWeights(s beam.Scope, dir string, shards int, rows beam.PCollection, p model.TrainParams) beam.PCollection {
	s = s.Scope("dpmr.ExportWeights")
	lines := beam.ParDo(s, &weightLinesFn{Shards: shards, L1: p.L1, Bias: p.Bias, Multiclass: p.Multiclass}, rows)
	return beam.ParDo(s, &writeTextShardFn{Dir: dir, Name: "weights", Shards: shards}, beam.GroupByKey(s, lines))
}

// WeightLine formats one line of a weights file: a feature's weight, or
// its weights, one per class.
func WeightLine(name string, w ...float64) []byte {
	b := make([]byte, 0, len(name)+26*len(w))
	b = append(b, name...)
	for _, x := range w {
		b = append(b, '\t')
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	return append(b, '\n')
}

// weightLinesFn formats a partition's weights, one run of lines per
// output shard.
type weightLinesFn struct {
	Shards int
	L1     float64 // zero weights of rows with an L1 term are left out
	Bias   bool
	// Multiclass: a feature's class rows make one line.
	Multiclass bool
}

func (f *weightLinesFn) ProcessElement(_ int32, pack transforms.RowPack, emit func(int32, []byte)) error {
	runs := make([][]byte, f.Shards)
	var w []float64
	for i := 0; i < len(pack.Names); {
		name, _ := model.RowFeature(pack.Names[i])
		w = w[:0]
		for ; i < len(pack.Names); i++ {
			feature, class := model.RowFeature(pack.Names[i])
			if feature != name || !f.Multiclass && len(w) > 0 {
				break
			}
			if class != len(w) {
				return fmt.Errorf("dpmr: feature %q's row for class %d is missing", name, len(w))
			}
			w = append(w, pack.Rows[i].W)
		}
		if allZero(w) && model.RowStrength(f.L1, f.Bias, name) > 0 {
			continue
		}
		k := shardOfName(name, f.Shards)
		runs[k] = append(runs[k], WeightLine(name, w...)...)
	}
	for k, run := range runs {
		if run != nil {
			emit(int32(k), run)
		}
	}
	return nil
}

func allZero(w []float64) bool {
	for _, x := range w {
		if x != 0 {
			return false
		}
	}
	return true
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
