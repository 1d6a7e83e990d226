package model_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// fixtureResult is what reading a fixture file gives, in the shape of its
// .expect and .err files (see testdata/README.md).
type fixtureResult struct {
	samples, nonzeros int64
	errs              []string
	lines             []string // each sample, formatted
}

func readFixture(t *testing.T, path string) fixtureResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := model.NewReader(f, filepath.Base(path))
	var res fixtureResult
	var s model.Sample
	for {
		err := r.Read(&s)
		var pe *model.ParseError
		switch {
		case err == io.EOF:
			return res
		case errors.As(err, &pe):
			res.errs = append(res.errs, err.Error())
		case err != nil:
			// A read error ends the input: it is the last error.
			res.errs = append(res.errs, err.Error())
			return res
		default:
			res.samples++
			res.nonzeros += int64(len(s.Features))
			res.lines = append(res.lines, fmt.Sprintf("%d %v %v", s.Line, s.Label, s.Features))
		}
	}
}

// fixtureExts are the extensions of fixture inputs: plain text and its
// compressed forms, which the reader opens by extension.
var fixtureExts = []string{".txt", ".txt.gz", ".txt.bz2"}

// fixtureStem returns the path without its input extension, or "".
func fixtureStem(path string) string {
	for _, ext := range fixtureExts {
		if strings.HasSuffix(path, ext) {
			return strings.TrimSuffix(path, ext)
		}
	}
	return ""
}

// readExpect parses a .expect file, which must be exactly
// "samples N\nnonzeros M\n".
func readExpect(t *testing.T, path string) (samples, nonzeros int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Sscanf(string(b), "samples %d\nnonzeros %d\n", &samples, &nonzeros)
	if err != nil || string(b) != fmt.Sprintf("samples %d\nnonzeros %d\n", samples, nonzeros) {
		t.Fatalf("%s is not \"samples N\\nnonzeros M\\n\": %q", path, b)
	}
	return samples, nonzeros
}

func TestFixtures(t *testing.T) {
	for _, dir := range []string{"good", "bad"} {
		paths, err := filepath.Glob(filepath.Join("..", "testdata", dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) == 0 {
			t.Fatalf("no fixtures in testdata/%s", dir)
		}
		for _, path := range paths {
			base := fixtureStem(path)
			if base == "" {
				// Every .expect and .err describes an input beside it.
				base, ext := strings.TrimSuffix(path, filepath.Ext(path)), filepath.Ext(path)
				found := false
				for _, in := range fixtureExts {
					if _, err := os.Stat(base + in); err == nil {
						found = true
					}
				}
				if !found || (ext != ".expect" && ext != ".err") {
					t.Errorf("stray fixture file %s", path)
				}
				continue
			}
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				got := readFixture(t, path)
				if plain := base + ".txt"; plain != path && dir == "good" {
					// A compressed form reads exactly as its plain text.
					if _, err := os.Stat(plain); err == nil {
						if want := readFixture(t, plain); !slices.Equal(got.lines, want.lines) {
							t.Errorf("%s reads\n%q\nbut %s reads\n%q", path, got.lines, plain, want.lines)
						}
					}
				}

				var wantErrs []string
				b, err := os.ReadFile(base + ".err")
				switch {
				case dir == "good" && err == nil:
					t.Fatalf("good fixture with an .err file")
				case dir == "bad" && err != nil:
					t.Fatalf("bad fixture needs an .err file: %v", err)
				case err == nil:
					wantErrs = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
				}
				if !slices.Equal(got.errs, wantErrs) {
					t.Errorf("errors:\n got %q\nwant %q", got.errs, wantErrs)
				}

				if _, err := os.Stat(base + ".expect"); err != nil {
					if dir == "good" {
						t.Fatalf("good fixture needs an .expect file: %v", err)
					}
					return
				}
				samples, nonzeros := readExpect(t, base+".expect")
				if got.samples != samples || got.nonzeros != nonzeros {
					t.Errorf("read %d samples, %d nonzeros; want %d, %d", got.samples, got.nonzeros, samples, nonzeros)
				}
			})
		}
	}
}

// TestNamesFixture pins down every sample of the fixture with the most
// rules in it, beyond the counts of its .expect file.
func TestNamesFixture(t *testing.T) {
	f, err := os.Open("../testdata/good/names.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := readAll(t, model.NewReader(f, "names.txt"))
	want := []readResult{
		{2, 1, feats{{"café", 2}, {"naïve", 1}, {"日本語", .5}}, ""},
		{4, 0, feats{{"url:http://x.org/a", 1}, {"#hash", 1}, {"tag#", 3}}, ""},
		{6, 1, feats{{"ü", 1}}, ""},
		{7, 0, feats{{"Ω", 3}, {"ω", 1}}, ""},
		{8, 0, feats{}, ""},
		{9, 1, feats{{":", 2}, {"a:", 1}}, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d samples; want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].line != want[i].line || got[i].label != want[i].label || !slices.Equal(got[i].feats, want[i].feats) || got[i].err != "" {
			t.Errorf("sample %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
