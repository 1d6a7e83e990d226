package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// The driver's file operations, on any Beam file system (local, gs://,
// s3://): paths are joined with "/", which each of them accepts.

// joinPath joins a directory and a name with "/", which every Beam file
// system (local, gs://, s3://) accepts.
func joinPath(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// openFile opens path for reading on its Beam file system; closing the
// reader closes the file system too.
func openFile(ctx context.Context, path string) (io.ReadCloser, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		fs.Close()
		return nil, err
	}
	return fileReader{r, fs}, nil
}

type fileReader struct {
	io.ReadCloser
	fs filesystem.Interface
}

func (f fileReader) Close() error {
	err := f.ReadCloser.Close()
	if ferr := f.fs.Close(); err == nil {
		err = ferr
	}
	return err
}

// readFile reads path whole.
func readFile(ctx context.Context, path string) ([]byte, error) {
	r, err := openFile(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// writeFile writes data to path whole: through a temporary name and a
// rename where the file system can rename, so a reader never sees half.
func writeFile(ctx context.Context, path string, data []byte) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	target := path
	rn, canRename := fs.(filesystem.Renamer)
	if canRename {
		target = path + ".tmp"
	}
	w, err := fs.OpenWrite(ctx, target)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if canRename {
		return rn.Rename(ctx, target, path)
	}
	return nil
}

// removeFile removes path; a file that is not there is no error.
func removeFile(ctx context.Context, path string) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	rm, ok := fs.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("cannot remove %s: its file system has no remove", path)
	}
	if err := rm.Remove(ctx, path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// checkWritableDir makes sure, before any work, that dir can take the
// files a run will write there: a local dir is created if need be, and a
// probe file is written and removed on any file system. what names the
// directory's role in the error.
func checkWritableDir(ctx context.Context, what, dir string) error {
	if !strings.Contains(dir, "://") {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			return fmt.Errorf("%s %s is a file, not a directory", what, dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s %s cannot be created: %v", what, dir, err)
		}
	}
	probe := joinPath(dir, fmt.Sprintf(".dpmr-probe-%d", os.Getpid()))
	if err := writeFile(ctx, probe, nil); err != nil {
		return fmt.Errorf("%s %s is not writable: %v", what, dir, err)
	}
	if err := removeFile(ctx, probe); err != nil {
		return fmt.Errorf("%s %s: %v", what, dir, err)
	}
	return nil
}

// ShardName is the name of shard shard of n of a dataset or output:
// PREFIX-SSSSS-of-NNNNN. Shard names are fixed, so a retried bundle
// rewrites the same file.
func ShardName(prefix string, shard, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d", prefix, shard, n)
}

// ParseShardName is ShardName's inverse: it reports whether name is
// exactly a name ShardName gives for prefix, and which shard of how many.
func ParseShardName(name, prefix string) (shard, n int, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, 0, false
	}
	s, t, ok := strings.Cut(rest, "-of-")
	if !ok {
		return 0, 0, false
	}
	shard, err1 := strconv.Atoi(s)
	n, err2 := strconv.Atoi(t)
	if err1 != nil || err2 != nil || shard < 0 || n < 1 || ShardName(prefix, shard, n) != name {
		return 0, 0, false
	}
	return shard, n, true
}
