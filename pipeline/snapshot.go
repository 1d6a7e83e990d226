package pipeline

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// A snapshot is a directory of sharded record files plus manifest.json.
// The manifest is written last, by the same pipeline, after every shard it
// lists; a directory without a valid manifest is an unfinished snapshot and
// is never read. Each shard file is a sequence of records, each a uvarint
// length and that many bytes; the manifest keeps each file's record count,
// size and CRC-32C, which readers check.
//
// A listing (manifest.json, model.json, predictions.json) names each file
// relative to its own directory, so a copied or moved directory reads and
// checks its own files, never the original's. Version 1 recorded paths as
// typed; its files always lay in the listing's directory, so a version 1
// listing is read by the files' base names.

// ManifestName is the file that marks a snapshot complete.
const ManifestName = "manifest.json"

// manifestVersion is the snapshot format version: 2 names files relative
// to the manifest's directory; 3 adds U (subspace's local-Newton
// direction) to each parameter row; 4 adds the samples' weights to each
// block of an index; 5 holds a pass's test set evaluation, not its scores;
// 6 keeps an index's block features as row ids (BlockRows) and its
// blocks without feature names (only the intercept's column): no names.
const manifestVersion = 6

// indexWithRowIDs is the first format whose index a pass reads: its block
// features are row ids, its blocks have no names (and, since 4, hold the
// samples' weights). An older index cannot be read, only rebuilt.
const indexWithRowIDs = 6

// rowsWithU is the first format whose rows hold U.
const rowsWithU = 3

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func init() {
	register.DoFn4x1[context.Context, int32, func(*[]byte) bool, func(ShardFile), error](&writeShardFn{})
	register.Iter1[[]byte]()
	register.Emitter1[ShardFile]()
	register.DoFn3x1[context.Context, ShardFile, func([]byte), error](&readShardFn{})
	register.Emitter1[[]byte]()
	register.DoFn4x1[context.Context, []byte, func(*ShardFile) bool, func(*[]byte) bool, error](&writeManifestFn{})
}

// ShardFile describes one written shard.
type ShardFile struct {
	Dataset string `json:"dataset"` // which record kind, e.g. "rows"
	// Path is the file's full path in memory; in a listing it is the
	// file's name in the listing's directory (see listedFiles).
	Path    string `json:"path"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	CRC32C  uint32 `json:"crc32c"`
	// Format is the version of the manifest that listed the file, which
	// tells how its records are encoded; 0 for a file this dpmr wrote.
	Format int `json:"-"`
}

// Manifest is the content of manifest.json.
type Manifest struct {
	Version int             `json:"version"`
	Files   []ShardFile     `json:"files"`
	Meta    json.RawMessage `json:"meta,omitempty"` // what the pipeline that wrote it reports
}

// Dataset returns the files of one dataset.
func (m *Manifest) Dataset(name string) []ShardFile {
	var out []ShardFile
	for _, f := range m.Files {
		if f.Dataset == name {
			out = append(out, f)
		}
	}
	return out
}

// Records counts the records of one dataset.
func (m *Manifest) Records(name string) int64 {
	var n int64
	for _, f := range m.Dataset(name) {
		n += f.Records
	}
	return n
}

// ErrIncomplete marks a snapshot directory that has no valid manifest.
var ErrIncomplete = errors.New("snapshot is incomplete")

// ReadManifest reads and checks dir's manifest, and that every file it
// lists lies in dir and exists with the recorded size.
func ReadManifest(ctx context.Context, dir string) (*Manifest, error) {
	return readManifest(ctx, dir, false)
}

// readManifest is ReadManifest; with external, the manifest may also list
// files by full path outside dir. Only the listings a run writes in its
// work dir for its own use at once (export, predict) do, and they are
// never read from a copy.
func readManifest(ctx context.Context, dir string, external bool) (*Manifest, error) {
	path := joinPath(dir, ManifestName)
	data, err := readFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIncomplete, dir, err)
	}
	m, err := parseManifest(path, data, external)
	if err != nil {
		return nil, err
	}
	if err := checkSizes(ctx, path, m.Files); err != nil {
		return nil, err
	}
	return m, nil
}

// parseManifest decodes the manifest at path and resolves its files.
func parseManifest(path string, data []byte, external bool) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIncomplete, path, err)
	}
	if m.Version < 1 || m.Version > manifestVersion {
		return nil, fmt.Errorf("%s: snapshot format version %d, this dpmr reads 1 to %d", path, m.Version, manifestVersion)
	}
	var err error
	if m.Files, err = resolveListed(path, m.Files, m.Version < 2, external); err != nil {
		return nil, err
	}
	for i := range m.Files {
		m.Files[i].Format = m.Version
	}
	return &m, nil
}

// listedFiles returns files as a listing in dir records them: by name,
// for the files in dir; by full path, for others (see readManifest).
func listedFiles(dir string, files []ShardFile) []ShardFile {
	out := make([]ShardFile, len(files))
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for i, f := range files {
		if name, ok := strings.CutPrefix(f.Path, prefix); ok && validName(name) {
			f.Path = name
		}
		out[i] = f
	}
	return out
}

// resolveListed turns the names a listing at path records into full paths
// in the listing's directory. Byname reads a version 1 listing, which
// recorded full paths of files in its own directory, by their base names.
// Only with external may a listing name a file by a full path.
func resolveListed(listing string, files []ShardFile, byName, external bool) ([]ShardFile, error) {
	dir := listing[:strings.LastIndex(listing, "/")+1]
	out := make([]ShardFile, len(files))
	for i, f := range files {
		name := f.Path
		if byName {
			name = name[strings.LastIndex(name, "/")+1:]
		}
		switch {
		case validName(name):
			f.Path = dir + name
		case !external || name == "":
			return nil, fmt.Errorf("%s lists %q, which is not the name of a file in its directory", listing, f.Path)
		}
		out[i] = f
	}
	return out, nil
}

// validName tells whether name is a plain file name, with no directory.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\")
}

// checkSizes checks that every file a listing (manifest.json, model.json)
// names exists with the recorded size.
func checkSizes(ctx context.Context, listing string, files []ShardFile) error {
	fs, err := filesystem.New(ctx, listing)
	if err != nil {
		return err
	}
	defer fs.Close()
	for _, f := range files {
		size, err := fs.Size(ctx, f.Path)
		if err != nil {
			return fmt.Errorf("%s lists %s: %v", listing, f.Path, err)
		}
		if size != f.Bytes {
			return fmt.Errorf("%s lists %s with %d bytes, the file has %d", listing, f.Path, f.Bytes, size)
		}
	}
	return nil
}

// WriteDataset writes records, already keyed by shard number in
// [0, shards), as the files dir/name-SSSSS-of-NNNNN and returns their
// descriptions. Shard names are fixed, so a retried bundle rewrites the
// same file. Expects PCollection<KV<int32, []byte>>; returns
// PCollection<ShardFile>.
func WriteDataset(s beam.Scope, dir, name string, shards int, records beam.PCollection) beam.PCollection {
	s = s.Scope("dpmr.Write." + name)
	return beam.ParDo(s, &writeShardFn{Dir: dir, Name: name, Shards: shards}, beam.GroupByKey(s, records))
}

type writeShardFn struct {
	Dir    string
	Name   string
	Shards int
}

func (f *writeShardFn) ProcessElement(ctx context.Context, shard int32, records func(*[]byte) bool, emit func(ShardFile)) error {
	path := joinPath(f.Dir, ShardName(f.Name, int(shard), f.Shards))
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, path)
	if err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	out := ShardFile{Dataset: f.Name, Path: path}
	var rec []byte
	var head [binary.MaxVarintLen64]byte
	for records(&rec) {
		n := binary.PutUvarint(head[:], uint64(len(rec)))
		bw.Write(head[:n])
		bw.Write(rec)
		out.Records++
		out.Bytes += int64(n + len(rec))
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	out.CRC32C = crc.Sum32()
	emit(out)
	return nil
}

// WriteManifest writes dir/manifest.json listing every file in files once
// they are all written, with meta (a singleton PCollection<[]byte> of JSON,
// or an invalid PCollection for none) embedded. It runs exactly once, on
// an impulse, even when there are no files at all: an empty snapshot is
// still a complete one. Expects PCollection<ShardFile>.
func WriteManifest(s beam.Scope, dir string, files beam.PCollection, meta beam.PCollection) {
	s = s.Scope("dpmr.WriteManifest")
	if !meta.IsValid() {
		meta = beam.Create(s, []byte("null"))
	}
	beam.ParDo0(s, &writeManifestFn{Dir: dir}, beam.Impulse(s),
		beam.SideInput{Input: files}, beam.SideInput{Input: meta})
}

type writeManifestFn struct {
	Dir string
}

func (f *writeManifestFn) ProcessElement(ctx context.Context, _ []byte, files func(*ShardFile) bool, meta func(*[]byte) bool) error {
	m := Manifest{Version: manifestVersion}
	var sf ShardFile
	for files(&sf) {
		m.Files = append(m.Files, sf)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	m.Files = listedFiles(f.Dir, m.Files)
	var raw []byte
	for meta(&raw) {
		m.Meta = raw
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(ctx, joinPath(f.Dir, ManifestName), append(data, '\n'))
}

// ReadDataset reads the records of the given shard files, checking each
// file's size, record count and checksum; a mismatch fails the pipeline
// rather than train on damaged state. Returns PCollection<[]byte>.
func ReadDataset(s beam.Scope, name string, files []ShardFile) beam.PCollection {
	s = s.Scope("dpmr.Read." + name)
	if len(files) == 0 {
		return beam.CreateList(s, [][]byte{})
	}
	return beam.ParDo(s, &readShardFn{}, beam.Reshuffle(s, beam.CreateList(s, files)))
}

type readShardFn struct{}

func (f *readShardFn) ProcessElement(ctx context.Context, sf ShardFile, emit func([]byte)) error {
	return streamShard(ctx, sf, func(rec []byte) error {
		emit(rec)
		return nil
	})
}

// streamShard calls fn with each record of a shard file as it reads it,
// and checks the file's record count, size and checksum against the
// manifest once read to the end, so that its memory is one record's. A
// record that fn refuses or that does not decode may be the damage the
// checksum would have found; what fn made of the records is to be used
// only once streamShard returned nil. It is the one reader of shard
// files, in the pipelines and in the driver (eachRecord).
func streamShard(ctx context.Context, sf ShardFile, fn func([]byte) error) error {
	r, err := openFile(ctx, sf.Path)
	if err != nil {
		return fmt.Errorf("reading snapshot: %v", err)
	}
	defer r.Close()
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(io.TeeReader(r, crc), 1<<20)
	var records, size int64
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			break
		}
		if err != nil || n > uint64(sf.Bytes) {
			return corrupt(sf, "bad record header after %d records", records)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(br, rec); err != nil {
			return corrupt(sf, "record %d is cut short", records+1)
		}
		size += int64(uvarintLen(n)) + int64(n)
		records++
		if err := fn(rec); err != nil {
			return err
		}
	}
	switch {
	case records != sf.Records:
		return corrupt(sf, "%d records, the manifest says %d", records, sf.Records)
	case size != sf.Bytes:
		return corrupt(sf, "%d bytes, the manifest says %d", size, sf.Bytes)
	case crc.Sum32() != sf.CRC32C:
		return corrupt(sf, "checksum %08x, the manifest says %08x", crc.Sum32(), sf.CRC32C)
	}
	return nil
}

// ErrCorrupt marks a snapshot file that does not match its manifest.
var ErrCorrupt = errors.New("snapshot file is corrupt")

func corrupt(sf ShardFile, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, sf.Path, fmt.Sprintf(format, args...))
}

func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}
