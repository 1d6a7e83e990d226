package pipeline

import (
	"bytes"
	"hash/crc32"
	"math"
	"strings"
	"testing"
)

// Fuzz targets for the files a model or work dir is read from: whatever
// their bytes, the readers return an error or files inside the listing's
// own directory and finite weights, and never panic.

// requireOwnFiles fails unless every file lies directly in dir.
func requireOwnFiles(t *testing.T, dir string, files []ShardFile) {
	t.Helper()
	for _, f := range files {
		name, ok := strings.CutPrefix(f.Path, dir+"/")
		if !ok || !validName(name) {
			t.Fatalf("a listing in %s resolved a file to %q", dir, f.Path)
		}
	}
}

func FuzzModelJSON(f *testing.F) {
	f.Add([]byte(`{"format":"dpmr-logistic-regression","version":2,"files":[{"dataset":"weights","path":"weights-00000-of-00001","records":3,"bytes":20,"crc32c":7}]}`))
	f.Add([]byte(`{"format":"dpmr-logistic-regression","version":1,"files":[{"path":"/elsewhere/m/weights-00000-of-00001"}]}`))
	f.Add([]byte(`{"format":"dpmr-logistic-regression","version":2,"files":[{"path":"../x"},{"path":"/etc/passwd"}]}`))
	f.Add([]byte(`{"format":"dpmr-logistic-regression","version":1,"files":[{"path":"a/"}]}`))
	f.Add([]byte(`{"version":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseModel("m/model.json", data)
		if err == nil {
			requireOwnFiles(t, "m", info.Files)
		}
	})
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"version":2,"files":[{"dataset":"rows","path":"rows-00000-of-00002","records":1,"bytes":9,"crc32c":1}],"meta":{"pass":3}}`))
	f.Add([]byte(`{"version":1,"files":[{"dataset":"rows","path":"/old/work/pass-00001/rows-00000-of-00002"}]}`))
	f.Add([]byte(`{"version":2,"files":[{"path":"out/predictions-00000-of-00001"},{"path":".."}]}`))
	f.Add([]byte(`{"version":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest("w/pass-00001/manifest.json", data, false)
		if err == nil {
			requireOwnFiles(t, "w/pass-00001", m.Files)
		}
		parseManifest("w/predict/manifest.json", data, true)
	})
}

func FuzzWeights(f *testing.F) {
	f.Add([]byte("\t0.5\na\t-1.25\nb:c\t3e-7\n"), int64(3))
	f.Add([]byte("a\tNaN\n"), int64(1))
	f.Add([]byte("a\t+Inf\n"), int64(1))
	f.Add([]byte("a 1\n"), int64(1))
	f.Add([]byte(""), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, records int64) {
		sf := ShardFile{Path: "m/weights-00000-of-00001", Records: records, Bytes: int64(len(data)),
			CRC32C: crc32.Checksum(data, castagnoli)}
		var n int64
		err := scanWeights(sf, bytes.NewReader(data), 0, func(name []byte, w float64) error {
			if math.IsNaN(w) || math.IsInf(w, 0) || bytes.ContainsAny(name, "\t\n") {
				t.Fatalf("emitted %q = %v", name, w)
			}
			n++
			return nil
		})
		if err == nil && n != records {
			t.Fatalf("%d weights read, %d listed, and no error", n, records)
		}
	})
}
