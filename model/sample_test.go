package model_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

type feats = []model.Feature

func TestParseLine(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		label float64
		want  feats
	}{
		{"label 1", "1 a:2 b", 1, feats{{"a", 2}, {"b", 1}}},
		{"label +1", "+1 a", 1, feats{{"a", 1}}},
		{"label 0", "0 a", 0, feats{{"a", 1}}},
		{"label -1", "-1 a", 0, feats{{"a", 1}}},
		{"label only keeps the bias", "1", 1, feats{}},
		{"label only with trailing blanks", "0 \t ", 0, feats{}},
		{"leading and trailing blanks", " \t 1\t\ta:1   b:2 \t", 1, feats{{"a", 1}, {"b", 2}}},
		{"CR stripped", "1 a:3\r", 1, feats{{"a", 3}}},
		{"LF stripped", "1 a:3\n", 1, feats{{"a", 3}}},
		{"CRLF stripped", "1 a:3\r\n", 1, feats{{"a", 3}}},
		{"no colon means 1", "1 clicked", 1, feats{{"clicked", 1}}},
		{"split at last colon", "1 a:b:3", 1, feats{{"a:b", 3}}},
		{"name ending in colon", "1 a::3", 1, feats{{"a:", 3}}},
		{"hash inside a line is a name", "1 #x:2 # c#", 1, feats{{"#x", 2}, {"#", 1}, {"c#", 1}}},
		{"UTF-8 names byte-exact", "1 café:2 日本 naïve:é:1", 1, feats{{"café", 2}, {"日本", 1}, {"naïve:é", 1}}},
		{"invalid UTF-8 name kept", "1 \xff\xfe:2", 1, feats{{"\xff\xfe", 2}}},
		{"decimal syntaxes", "1 a:.5 b:5. c:-2.5e3 d:+3 e:1E2 f:007", 1,
			feats{{"a", .5}, {"b", 5}, {"c", -2500}, {"d", 3}, {"e", 100}, {"f", 7}}},
		{"15-digit integer exact", "1 a:123456789012345", 1, feats{{"a", 123456789012345}}},
		{"16-digit integer", "1 a:1234567890123456", 1, feats{{"a", 1234567890123456}}},
		{"largest in range", "1 a:1e100 b:-1e100", 1, feats{{"a", 1e100}, {"b", -1e100}}},
		{"smallest in range", "1 a:1e-100 b:-1e-100", 1, feats{{"a", 1e-100}, {"b", -1e-100}}},
		{"zero in any notation", "1 a:0e-400 b:0.000e999 c:-0e5 d", 1, feats{{"d", 1}}},
		{"duplicates summed to the bound", "1 a:6e99 a:4e99", 1, feats{{"a", 1e100}}},
		{"zero dropped", "1 a:0 b:1", 1, feats{{"b", 1}}},
		{"negative zero dropped", "1 a:-0 b:-0.0", 1, feats{}},
		{"duplicates summed", "1 a:1 b:2 a:3", 1, feats{{"a", 4}, {"b", 2}}},
		{"duplicate without value", "0 a a b", 0, feats{{"a", 2}, {"b", 1}}},
		{"sum to zero dropped", "1 a:1 b a:-1", 1, feats{{"b", 1}}},
		{"zero then value keeps first position", "1 a:0 b:1 a:2", 1, feats{{"a", 2}, {"b", 1}}},
		{"names differing by case are distinct", "1 A a", 1, feats{{"A", 1}, {"a", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s model.Sample
			ok, err := model.ParseLine(&s, "f.txt", 7, []byte(tt.text))
			if !ok || err != nil {
				t.Fatalf("ParseLine(%q) = %v, %v; want a sample", tt.text, ok, err)
			}
			if s.File != "f.txt" || s.Line != 7 || s.Label != tt.label || !slices.Equal(s.Features, tt.want) {
				t.Errorf("ParseLine(%q) = %+v; want label %v, features %v", tt.text, s, tt.label, tt.want)
			}
		})
	}
}

func TestParseLineWeights(t *testing.T) {
	for _, tt := range []struct {
		text          string
		label, weight float64
		want          feats
	}{
		{"1 a", 1, 1, feats{{"a", 1}}},
		{"1:2.5 a", 1, 2.5, feats{{"a", 1}}},
		{"-1:0.25 a:3", 0, 0.25, feats{{"a", 3}}},
		{"+1:1e-3", 1, 1e-3, nil},
		{"0:7\tb:2 c", 0, 7, feats{{"b", 2}, {"c", 1}}},
	} {
		var s model.Sample
		ok, err := model.ParseLine(&s, "f.txt", 1, []byte(tt.text))
		require.True(t, ok)
		require.NoError(t, err)
		require.Equal(t, tt.label, s.Label, tt.text)
		require.Equal(t, tt.weight, s.Weight, tt.text)
		require.Equal(t, len(tt.want), len(s.Features), tt.text)
		require.True(t, slices.Equal(tt.want, s.Features), tt.text)
	}
	// Where a label is optional or absent, a first token 1:2 is feature
	// 1 of value 2, as in libsvm's unlabelled lines.
	for _, mode := range []model.LabelMode{model.LabelOptional, model.LabelNone} {
		var s model.Sample
		ok, err := model.ParseLineLabels(&s, "f.txt", 1, []byte("1:2 a"), mode)
		require.True(t, ok)
		require.NoError(t, err)
		require.False(t, model.Labelled(s.Label))
		require.Equal(t, 1.0, s.Weight)
		require.Equal(t, []model.Feature{{Name: "1", Value: 2}, {Name: "a", Value: 1}}, s.Features)
	}
}

func TestParseLineNoSample(t *testing.T) {
	tests := []struct{ name, text string }{
		{"empty", ""},
		{"spaces", "   "},
		{"tabs", "\t\t"},
		{"CRLF only", "\r\n"},
		{"blanks and CR", " \t\r"},
		{"comment", "# label feature:value"},
		{"indented comment", " \t# note"},
		{"comment is free text", "#\x00\x01 binary is fine in a comment"},
		{"comment then CR", "#c\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := model.Sample{Features: feats{{"stale", 1}}}
			ok, err := model.ParseLine(&s, "f.txt", 3, []byte(tt.text))
			if ok || err != nil {
				t.Fatalf("ParseLine(%q) = %v, %v; want false, nil", tt.text, ok, err)
			}
			if len(s.Features) != 0 {
				t.Errorf("Features = %v; want none", s.Features)
			}
		})
	}
}

func TestParseLineErrors(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		text string
		kind error
		col  int
		msg  string
	}{
		{"label 2", "2 a", model.ErrLabel, 1, `label "2" is not 1, +1, 0 or -1`},
		{"label 1.0", "1.0 a", model.ErrLabel, 1, `label "1.0" is not 1, +1, 0 or -1`},
		{"label +0", "+0 a", model.ErrLabel, 1, `label "+0" is not 1, +1, 0 or -1`},
		{"label word", "yes a", model.ErrLabel, 1, `label "yes" is not 1, +1, 0 or -1`},
		{"missing label", "a:1 b:2", model.ErrLabel, 1, `label "a:1" is not 1, +1, 0 or -1`},
		{"indented bad label", "  \t-2 a", model.ErrLabel, 4, `label "-2" is not 1, +1, 0 or -1`},
		{"long label truncated", long, model.ErrLabel, 1,
			`label "` + long[:64] + `"... is not 1, +1, 0 or -1`},
		{"truncation keeps runes whole", strings.Repeat("é", 40), model.ErrLabel, 1,
			`label "` + strings.Repeat("é", 32) + `"... is not 1, +1, 0 or -1`},
		{"weight 0", "1:0 a", model.ErrWeight, 3, `weight "0" of the sample is not > 0`},
		{"negative weight", "0:-2 a", model.ErrWeight, 3, `weight "-2" of the sample is not > 0`},
		{"empty weight", "  +1: a", model.ErrWeight, 6, `weight "" of the sample is not a number`},
		{"weight word", "-1:heavy a", model.ErrWeight, 4, `weight "heavy" of the sample is not a number`},
		{"weight nan", "1:NaN a", model.ErrWeight, 3, `weight "NaN" of the sample is not finite`},
		{"weight inf", "1:inf", model.ErrWeight, 3, `weight "inf" of the sample is not finite`},
		{"weight out of range", "1:1e101 a", model.ErrWeight, 3, `weight "1e101" of the sample is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"weight on a bad label", "2:1 a", model.ErrLabel, 1, `label "2:1" is not 1, +1, 0 or -1`},
		{"non-numeric value", "1 foo:abc", model.ErrValue, 3, `value "abc" of feature "foo" is not a number`},
		{"bad value column", "1 a:1  b:2 foo:1x", model.ErrValue, 12, `value "1x" of feature "foo" is not a number`},
		{"incomplete exponent", "1 a:1e", model.ErrValue, 3, `value "1e" of feature "a" is not a number`},
		{"lone dot", "1 a:.", model.ErrValue, 3, `value "." of feature "a" is not a number`},
		{"hex float", "1 a:0x10", model.ErrValue, 3, `value "0x10" of feature "a" is not a number`},
		{"overflowing hex float", "1 a:0x1p2000", model.ErrValue, 3, `value "0x1p2000" of feature "a" is not a number`},
		{"underscore", "1 a:1_000", model.ErrValue, 3, `value "1_000" of feature "a" is not a number`},
		{"nan", "1 a:nan", model.ErrValue, 3, `value "nan" of feature "a" is not finite`},
		{"NaN", "1 a:NaN", model.ErrValue, 3, `value "NaN" of feature "a" is not finite`},
		{"inf", "1 a:inf", model.ErrValue, 3, `value "inf" of feature "a" is not finite`},
		{"-Inf", "1 a:-Inf", model.ErrValue, 3, `value "-Inf" of feature "a" is not finite`},
		{"infinity", "1 a:+infinity", model.ErrValue, 3, `value "+infinity" of feature "a" is not finite`},
		{"overflow", "1 a:1e309", model.ErrValue, 3, `value "1e309" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"negative overflow", "1 a:-1e309", model.ErrValue, 3, `value "-1e309" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"largest finite", "1 a:1.7976931348623157e308", model.ErrValue, 3, `value "1.7976931348623157e308" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"square overflows", "1 f1:1e155", model.ErrValue, 3, `value "1e155" of feature "f1" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"above the bound", "1 a:1.0000001e100", model.ErrValue, 3, `value "1.0000001e100" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"below the bound", "1 a:-9.9999e-101", model.ErrValue, 3, `value "-9.9999e-101" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"subnormal", "1 a:1e-320", model.ErrValue, 3, `value "1e-320" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"underflow to zero", "1 a:1e-400", model.ErrValue, 3, `value "1e-400" of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"sum overflow", "1 a:1e100 b a:1e100", model.ErrValue, 13, `sum of values of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"sum below the bound", "1 a:1.5e-100 b a:-1e-100", model.ErrValue, 16, `sum of values of feature "a" is out of range: nonzero values must have a magnitude between 1e-100 and 1e100`},
		{"empty value", "1 foo:", model.ErrValue, 3, `feature "foo" has an empty value`},
		{"empty value after colons", "1 a::", model.ErrValue, 3, `feature "a:" has an empty value`},
		{"empty name", "1 :3", model.ErrFeature, 3, `feature ":3" has an empty name`},
		{"colon alone", "0 a :", model.ErrFeature, 5, `feature ":" has an empty name`},
		{"first bad token wins", "1 :3 a:x", model.ErrFeature, 3, `feature ":3" has an empty name`},
		{"NUL", "1 a\x00b", model.ErrBinary, 4, `binary data (byte 0x00)`},
		{"SOH", "\x011 a", model.ErrBinary, 1, `binary data (byte 0x01)`},
		{"vertical tab separator", "1 a\vb", model.ErrBinary, 4, `binary data (byte 0x0b)`},
		{"form feed", "1 a\f", model.ErrBinary, 4, `binary data (byte 0x0c)`},
		{"CR inside line", "1 a\rb", model.ErrBinary, 4, `binary data (byte 0x0d)`},
		{"two CRs at end", "1 a\r\r", model.ErrBinary, 4, `binary data (byte 0x0d)`},
		{"ESC", "1 a:\x1b[31m", model.ErrBinary, 5, `binary data (byte 0x1b)`},
		{"binary reported before bad label", "x y\x00", model.ErrBinary, 4, `binary data (byte 0x00)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := model.Sample{Features: feats{{"stale", 1}}}
			ok, err := model.ParseLine(&s, "f.txt", 42, []byte(tt.text))
			if ok || err == nil {
				t.Fatalf("ParseLine(%q) = %v, %v; want an error", tt.text, ok, err)
			}
			want := fmt.Sprintf("f.txt:42:%d: %s", tt.col, tt.msg)
			if err.Error() != want {
				t.Errorf("error\n got %s\nwant %s", err, want)
			}
			var pe *model.ParseError
			if !errors.As(err, &pe) || pe.File != "f.txt" || pe.Line != 42 || pe.Column != tt.col {
				t.Errorf("error %#v; want *ParseError at f.txt:42:%d", err, tt.col)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.kind)
			}
			for _, other := range []error{model.ErrLabel, model.ErrFeature, model.ErrValue, model.ErrBinary} {
				if other != tt.kind && errors.Is(err, other) {
					t.Errorf("errors.Is(%v, %v) = true", err, other)
				}
			}
			if len(s.Features) != 0 {
				t.Errorf("Features after error = %v; want none", s.Features)
			}
		})
	}
}

func TestParseErrorWholeLine(t *testing.T) {
	err := &model.ParseError{File: "f.txt", Line: 3, Err: model.ErrBinary}
	if got, want := err.Error(), "f.txt:3: binary data"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

// TestParseLineManyFeatures covers the switch from scanning to a map for
// duplicate detection: both sides of the limit must merge alike.
func TestParseLineManyFeatures(t *testing.T) {
	for _, n := range []int{1, 31, 32, 33, 34, 100, 5000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var line strings.Builder
			line.WriteString("1")
			want := make(feats, 0, n)
			for i := 0; i < n; i++ {
				fmt.Fprintf(&line, " f%d:%d", i, i+1)
				want = append(want, model.Feature{Name: "f" + strconv.Itoa(i), Value: float64(i + 1)})
			}
			// Repeat the first, middle and last, and cancel the second.
			for _, i := range []int{0, n / 2, n - 1} {
				fmt.Fprintf(&line, " f%d:10", i)
				want[i].Value += 10
			}
			if n > 1 {
				line.WriteString(" f1:-2")
				want = append(want[:1], want[2:]...)
			}
			var s model.Sample
			if ok, err := model.ParseLine(&s, "f", 1, []byte(line.String())); !ok || err != nil {
				t.Fatalf("ParseLine = %v, %v", ok, err)
			}
			if !slices.Equal(s.Features, want) {
				t.Errorf("features differ from the expected %d", len(want))
			}
		})
	}
}

func TestParseLineReusesFeatures(t *testing.T) {
	var s model.Sample
	if _, err := model.ParseLine(&s, "f", 1, []byte("1 a b c d")); err != nil {
		t.Fatal(err)
	}
	first := &s.Features[0]
	if _, err := model.ParseLine(&s, "g", 2, []byte("0 x:2")); err != nil {
		t.Fatal(err)
	}
	if &s.Features[0] != first {
		t.Error("Features' backing array was not reused")
	}
	want := model.Sample{File: "g", Line: 2, Label: 0, Weight: 1, Features: feats{{"x", 2}}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v; want %+v", s, want)
	}
}

func TestParseLineAllocs(t *testing.T) {
	line := []byte("1 user:42 ad:7 hour:13 site=news.example clicks:3 ctr:0.125")
	var s model.Sample
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := model.ParseLine(&s, "f", 1, line); err != nil {
			t.Fatal(err)
		}
	})
	// The one copy of the line that the names share.
	if allocs > 1 {
		t.Errorf("ParseLine allocates %v times per line; want 1", allocs)
	}
}

type readResult struct {
	line  int64
	label float64
	feats feats
	err   string
}

// readAll drains r, recording samples and errors in order.
func readAll(t *testing.T, r *model.Reader) []readResult {
	t.Helper()
	var out []readResult
	var s model.Sample
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatal("Reader does not reach io.EOF")
		}
		err := r.Read(&s)
		if err == io.EOF {
			return out
		}
		var pe *model.ParseError
		switch {
		case errors.As(err, &pe):
			out = append(out, readResult{line: pe.Line, err: err.Error()})
		case err != nil:
			t.Fatalf("Read: %v", err)
		default:
			out = append(out, readResult{line: s.Line, label: s.Label, feats: append(feats{}, s.Features...)})
		}
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []readResult
	}{
		{"empty input", "", nil},
		{"only blank and comment lines", "\n# c\n  \n#d", nil},
		{"LF", "1 a\n0 b:2\n", []readResult{{1, 1, feats{{"a", 1}}, ""}, {2, 0, feats{{"b", 2}}, ""}}},
		{"CRLF", "1 a\r\n0 b:2\r\n", []readResult{{1, 1, feats{{"a", 1}}, ""}, {2, 0, feats{{"b", 2}}, ""}}},
		{"no trailing newline", "1 a\n0 b:2", []readResult{{1, 1, feats{{"a", 1}}, ""}, {2, 0, feats{{"b", 2}}, ""}}},
		{"no trailing newline CR", "1 a\r\n0 b:2\r", []readResult{{1, 1, feats{{"a", 1}}, ""}, {2, 0, feats{{"b", 2}}, ""}}},
		{"physical line numbers", "# header\n\n1 a\n \t\n# more\n0 b\n\n",
			[]readResult{{3, 1, feats{{"a", 1}}, ""}, {6, 0, feats{{"b", 1}}, ""}}},
		{"continues after a bad line", "1 a\n2 b\n0 c\n",
			[]readResult{
				{1, 1, feats{{"a", 1}}, ""},
				{2, 0, nil, `in.txt:2:1: label "2" is not 1, +1, 0 or -1`},
				{3, 0, feats{{"c", 1}}, ""},
			}},
		{"consecutive bad lines", "1 a:x\n1 :2\n1 ok\n",
			[]readResult{
				{1, 0, nil, `in.txt:1:3: value "x" of feature "a" is not a number`},
				{2, 0, nil, `in.txt:2:3: feature ":2" has an empty name`},
				{3, 1, feats{{"ok", 1}}, ""},
			}},
		{"bad last line without newline", "1 a\n1 a:inf",
			[]readResult{{1, 1, feats{{"a", 1}}, ""}, {2, 0, nil, `in.txt:2:3: value "inf" of feature "a" is not finite`}}},
		{"byte order mark skipped", "\xEF\xBB\xBF1 a\n", []readResult{{1, 1, feats{{"a", 1}}, ""}}},
		{"byte order mark later is data", "1 a\n\xEF\xBB\xBF1 a\n",
			[]readResult{{1, 1, feats{{"a", 1}}, ""}, {2, 0, nil, `in.txt:2:1: label "\ufeff1" is not 1, +1, 0 or -1`}}},
		{"label-only sample", "0\n", []readResult{{1, 0, feats{}, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, wrap := range []struct {
				name string
				r    func(io.Reader) io.Reader
			}{{"whole", func(r io.Reader) io.Reader { return r }}, {"one byte", iotest.OneByteReader}} {
				got := readAll(t, model.NewReader(wrap.r(strings.NewReader(tt.input)), "in.txt"))
				if len(got) == 0 && len(tt.want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s reads:\n got %+v\nwant %+v", wrap.name, got, tt.want)
				}
			}
		})
	}
}

func TestReaderEOFIsSticky(t *testing.T) {
	r := model.NewReader(strings.NewReader("1 a"), "in.txt")
	var s model.Sample
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := r.Read(&s); err != io.EOF {
			t.Fatalf("Read %d after the end = %v; want io.EOF", i, err)
		}
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	in := io.MultiReader(strings.NewReader("1 a\n0 b"), iotest.ErrReader(boom))
	r := model.NewReader(in, "in.txt")
	var s model.Sample
	if err := r.Read(&s); err != nil || s.Line != 1 {
		t.Fatalf("first Read = %v at line %d; want line 1", err, s.Line)
	}
	// The unterminated "0 b" was cut short by the failure: not a sample.
	for i := 0; i < 2; i++ {
		err := r.Read(&s)
		if !errors.Is(err, boom) {
			t.Fatalf("Read = %v; want the read error", err)
		}
		if want := "reading in.txt after line 1: disk on fire"; err.Error() != want {
			t.Errorf("error = %q; want %q", err, want)
		}
	}
}

func TestReaderLongLine(t *testing.T) {
	const size = 10 << 20
	name := strings.Repeat("n", size)
	input := "0 a\n1 " + name + ":2 b\n0 c\n"
	for _, wrap := range []struct {
		name string
		r    func(io.Reader) io.Reader
	}{{"whole", func(r io.Reader) io.Reader { return r }}, {"half", iotest.HalfReader}} {
		t.Run(wrap.name, func(t *testing.T) {
			r := model.NewReader(wrap.r(strings.NewReader(input)), "in.txt")
			got := readAll(t, r)
			want := []readResult{
				{1, 0, feats{{"a", 1}}, ""},
				{2, 1, feats{{name, 2}, {"b", 1}}, ""},
				{3, 0, feats{{"c", 1}}, ""},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("10 MB line not read back intact")
			}
		})
	}
}

func TestReaderMillionFeatures(t *testing.T) {
	const n = 1_000_000
	var b strings.Builder
	b.WriteString("1")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " f%d:%d", i, i%7)
	}
	// Every feature again, so each of the 1M lookups finds a duplicate.
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " f%d", i)
	}
	b.WriteString("\n0 tail\n")
	r := model.NewReader(strings.NewReader(b.String()), "in.txt")
	var s model.Sample
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	if len(s.Features) != n {
		t.Fatalf("%d features; want %d", len(s.Features), n)
	}
	for _, i := range []int{0, 1, 6, 7, 500_000, n - 1} {
		want := model.Feature{Name: "f" + strconv.Itoa(i), Value: float64(i%7 + 1)}
		if s.Features[i] != want {
			t.Errorf("feature %d = %v; want %v", i, s.Features[i], want)
		}
	}
	if err := r.Read(&s); err != nil || s.Line != 2 {
		t.Errorf("next Read = %v at line %d; want the sample on line 2", err, s.Line)
	}
}

// decimal is the value syntax ParseLine accepts, stated independently of
// its implementation.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

var token = regexp.MustCompile(`[^ \t]+`)

// refInRange states the value bounds: 0, or a magnitude in [1e-100, 1e100].
func refInRange(f float64) bool {
	return f == 0 || 1e-100 <= math.Abs(f) && math.Abs(f) <= 1e100
}

// isZero reports whether the decimal literal v denotes 0, exactly.
func isZero(v string) bool {
	x, _, err := big.ParseFloat(v, 10, 64, big.ToNearestEven)
	return err == nil && x.Sign() == 0
}

// refParse is a slow, obvious statement of the format, the oracle of
// FuzzParseLine: it returns the sample or the error kind and column.
func refParse(text string) (ok bool, label float64, fs feats, kind error, col int) {
	text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
	if rest := strings.TrimLeft(text, " \t"); rest == "" || rest[0] == '#' {
		return false, 0, nil, nil, 0
	}
	for i := 0; i < len(text); i++ {
		if text[i] < 0x20 && text[i] != '\t' {
			return false, 0, nil, model.ErrBinary, i + 1
		}
	}
	tokens := token.FindAllStringIndex(text, -1)
	switch text[tokens[0][0]:tokens[0][1]] {
	case "1", "+1":
		label = 1
	case "0", "-1":
	default:
		return false, 0, nil, model.ErrLabel, tokens[0][0] + 1
	}
	sums := map[string]float64{}
	var order []string
	for _, tok := range tokens[1:] {
		s, col := text[tok[0]:tok[1]], tok[0]+1
		name, v := s, "1"
		if k := strings.LastIndex(s, ":"); k >= 0 {
			name, v = s[:k], s[k+1:]
		}
		if name == "" {
			return false, 0, nil, model.ErrFeature, col
		}
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err == nil && (math.IsNaN(f) || math.IsInf(f, 0)), !decimal.MatchString(v), err != nil:
			return false, 0, nil, model.ErrValue, col
		case f == 0 && !isZero(v), !refInRange(f):
			return false, 0, nil, model.ErrValue, col
		}
		if _, seen := sums[name]; !seen {
			order = append(order, name)
		}
		sums[name] += f
		if !refInRange(sums[name]) {
			return false, 0, nil, model.ErrValue, col
		}
	}
	fs = feats{}
	for _, name := range order {
		if sums[name] != 0 {
			fs = append(fs, model.Feature{Name: name, Value: sums[name]})
		}
	}
	return true, label, fs, nil, 0
}

func FuzzParseLine(f *testing.F) {
	for _, seed := range []string{
		"1 a:2 b", "+1 a:b:3 a:b:-3", "-1\tcafé:1e-320", "0 a:0 b a:1e308 a:1e308", "1 a:6e99 a:6e99", "1 a:1e-400",
		"# comment", "", "  \r", "1 :3", "1 foo:", "1 a:nan", "1 a:0x1p-2", "2 a",
		"1 a\x00", "1 a:1_0", "1 a\r\n", "0 " + strings.Repeat("f ", 40) + "g:-40",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		var s model.Sample
		ok, err := model.ParseLine(&s, "fuzz.txt", 9, text)
		if err != nil {
			var pe *model.ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.txt" || pe.Line != 9 {
				t.Fatalf("error %#v is not a *ParseError for fuzz.txt line 9", err)
			}
			if ok || pe.Column < 0 || pe.Column > len(text) {
				t.Fatalf("ok = %v, column %d for a %d-byte line", ok, pe.Column, len(text))
			}
		}
		if ok {
			if s.Label != 0 && s.Label != 1 {
				t.Fatalf("label %v", s.Label)
			}
			seen := map[string]bool{}
			for _, f := range s.Features {
				if f.Value == 0 || math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
					t.Fatalf("feature %q has value %v", f.Name, f.Value)
				}
				if f.Name == "" || strings.ContainsFunc(f.Name, func(r rune) bool { return r < 0x20 || r == ' ' }) {
					t.Fatalf("bad feature name %q", f.Name)
				}
				if seen[f.Name] {
					t.Fatalf("feature %q twice", f.Name)
				}
				seen[f.Name] = true
			}
		}

		wantOK, label, fs, kind, col := refParse(string(text))
		var pe *model.ParseError
		errors.As(err, &pe)
		switch {
		case kind != nil:
			if !errors.Is(err, kind) || pe.Column != col {
				t.Fatalf("ParseLine(%q) error = %v; want %v at column %d", text, err, kind, col)
			}
		case err != nil:
			t.Fatalf("ParseLine(%q) error = %v; want none", text, err)
		case ok != wantOK:
			t.Fatalf("ParseLine(%q) ok = %v; want %v", text, ok, wantOK)
		case ok && (s.Label != label || !slices.Equal(s.Features, fs)):
			t.Fatalf("ParseLine(%q) = %v %v; want %v %v", text, s.Label, s.Features, label, fs)
		}
		checkLabelModes(t, text, ok, err, s)
	})
}

// checkLabelModes checks the label modes against ParseLine's result for
// the same text: LabelNone reads a sample line as ParseLine reads it behind
// a label, and LabelOptional reads it as LabelNone when its first token
// has a ':' and as ParseLine otherwise.
func checkLabelModes(t *testing.T, text []byte, ok bool, err error, s model.Sample) {
	var none, opt, behind model.Sample
	okNone, errNone := model.ParseLineLabels(&none, "fuzz.txt", 9, text, model.LabelNone)
	okOpt, errOpt := model.ParseLineLabels(&opt, "fuzz.txt", 9, text, model.LabelOptional)
	if okNone || errNone != nil {
		okB, errB := model.ParseLine(&behind, "fuzz.txt", 9, append([]byte("1 "), text...))
		var pn, pb *model.ParseError
		switch {
		case errNone != nil || errB != nil:
			if !errors.As(errNone, &pn) || !errors.As(errB, &pb) || pn.Column != pb.Column-2 ||
				!errors.Is(errNone, errors.Unwrap(pb.Err)) && errors.Unwrap(pb.Err) != nil {
				t.Fatalf("LabelNone(%q) error = %v; behind a label: %v", text, errNone, errB)
			}
		case okNone != okB || model.Labelled(none.Label) || !slices.Equal(none.Features, behind.Features):
			t.Fatalf("LabelNone(%q) = %v %v %v; behind a label: %v %v", text, okNone, none.Label, none.Features, okB, behind.Features)
		}
	}
	fields := strings.Fields(strings.ReplaceAll(string(text), "\r", " "))
	if len(fields) > 0 && strings.Contains(fields[0], ":") && !bytes.ContainsAny(text, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f") {
		if okOpt != okNone || (errOpt == nil) != (errNone == nil) || errOpt != nil && errOpt.Error() != errNone.Error() ||
			!slices.Equal(opt.Features, none.Features) || model.Labelled(opt.Label) && okOpt {
			t.Fatalf("LabelOptional(%q) = %v %v %v; LabelNone: %v %v %v", text, okOpt, opt.Features, errOpt, okNone, none.Features, errNone)
		}
		return
	}
	if okOpt != ok || (errOpt == nil) != (err == nil) || errOpt != nil && !strings.HasPrefix(errOpt.Error(), err.Error()) ||
		okOpt && (opt.Label != s.Label || !slices.Equal(opt.Features, s.Features)) {
		t.Fatalf("LabelOptional(%q) = %v %v %v %v; ParseLine: %v %v %v %v", text, okOpt, opt.Label, opt.Features, errOpt, ok, s.Label, s.Features, err)
	}
}

// FuzzReader checks that a Reader yields what ParseLine gives for each line.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{"1 a\n0 b", "\xEF\xBB\xBF1 a\r\n\n#c\n2 x\n0 y:1\n", "\n\n", "1 a\x00\n0"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want []readResult
		var s model.Sample
		for i, line := range bytes.SplitAfter(data, []byte("\n")) {
			if i == 0 {
				line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
			}
			ok, err := model.ParseLine(&s, "in.txt", int64(i+1), line)
			switch {
			case err != nil:
				want = append(want, readResult{line: int64(i + 1), err: err.Error()})
			case ok:
				want = append(want, readResult{line: s.Line, label: s.Label, feats: append(feats{}, s.Features...)})
			}
		}
		got := readAll(t, model.NewReader(bytes.NewReader(data), "in.txt"))
		if (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Fatalf("Reader(%q):\n got %+v\nwant %+v", data, got, want)
		}
	})
}

func ExampleParseLine() {
	var s model.Sample
	ok, err := model.ParseLine(&s, "train.txt", 7, []byte("+1 clicks:3 lang:en:1 mobile clicks:2 ads:0\r"))
	fmt.Println(ok, err, s.Label, s.Features)

	_, err = model.ParseLine(&s, "train.txt", 8, []byte("1 clicks:abc"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, model.ErrValue))
	// Output:
	// true <nil> 1 [{clicks 5} {lang:en 1} {mobile 1}]
	// train.txt:8:3: value "abc" of feature "clicks" is not a number
	// true
}

func BenchmarkParseLine(b *testing.B) {
	var line strings.Builder
	line.WriteString("1")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&line, " feature%d:%d", i*7919%100000, 1+i%3)
	}
	text := []byte(line.String())
	var s model.Sample
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := model.ParseLine(&s, "f", 1, text); err != nil {
			b.Fatal(err)
		}
	}
}

func gzipped(t *testing.T, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts { // one gzip member each, concatenated
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestReaderCompressed(t *testing.T) {
	text := "\xEF\xBB\xBF# header\n1 a:2 b\n\n0 c\r\n+1 d:1e-3\n"
	want := readAll(t, model.NewReader(strings.NewReader(text), "in.txt"))
	if len(want) != 3 || want[0].line != 2 || want[2].line != 5 {
		t.Fatalf("plain text reads %+v", want)
	}
	bz, err := os.ReadFile("../testdata/good/libsvm.txt.bz2")
	if err != nil {
		t.Fatal(err)
	}
	plainLibsvm, err := os.ReadFile("../testdata/good/libsvm.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		want []readResult
	}{
		{"in.txt.gz", gzipped(t, text), want},
		{"in.GZ", gzipped(t, text), want},
		{"members.gz", gzipped(t, text[:15], text[15:22], text[22:]), want},
		{"libsvm.txt.bz2", bz, readAll(t, model.NewReader(bytes.NewReader(plainLibsvm), "in.txt"))},
		{"empty.gz", nil, nil},
		{"empty.bz2", nil, nil},
		{"empty-text.gz", gzipped(t, ""), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, model.NewReader(iotest.HalfReader(bytes.NewReader(tt.data)), "in.txt"))
			if len(tt.data) > 0 && reflect.DeepEqual(got, tt.want) {
				t.Fatalf("compressed data read as text gives the samples")
			}
			got = readAll(t, model.NewReader(iotest.HalfReader(bytes.NewReader(tt.data)), tt.name))
			if (len(got) != 0 || len(tt.want) != 0) && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReaderCompressedErrors(t *testing.T) {
	data := gzipped(t, "1 a\n0 b\n1 c\n")
	boom := errors.New("disk on fire")
	for _, tt := range []struct {
		name, file string
		in         io.Reader
		want       string
		is         error
	}{
		{"unsupported", "in.txt.zst", strings.NewReader("1 a\n"),
			"in.txt.zst: zst-compressed input is not supported: decompress it first (zstd -d), or compress it with gzip (.gz) or bzip2 (.bz2)", nil},
		{"not gzip", "in.gz", strings.NewReader("1 a\n0 b\n1 c\n"),
			"in.gz is not gzip data, or is damaged or truncated (it is read as gzip because of its name): gzip: invalid header", gzip.ErrHeader},
		{"not bzip2", "in.bz2", strings.NewReader("1 a\n"),
			"in.bz2 is not bzip2 data, or is damaged or truncated (it is read as bzip2 because of its name): bzip2 data invalid: bad magic value", nil},
		{"truncated header", "in.gz", bytes.NewReader(data[:5]),
			"in.gz is not gzip data, or is damaged or truncated (it is read as gzip because of its name): unexpected EOF", io.ErrUnexpectedEOF},
		{"truncated", "in.gz", bytes.NewReader(data[:len(data)-4]),
			"in.gz: gzip data damaged or truncated after line 3: unexpected EOF", io.ErrUnexpectedEOF},
		{"checksum", "in.gz", bytes.NewReader(append(append([]byte{}, data[:len(data)-8]...), 0, 0, 0, 0, 12, 0, 0, 0)),
			"in.gz: gzip data damaged or truncated after line 3: gzip: invalid checksum", gzip.ErrChecksum},
		{"failed read", "in.gz", io.MultiReader(bytes.NewReader(data[:len(data)-4]), iotest.ErrReader(boom)),
			"reading in.gz after line 3: disk on fire", boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := model.NewReader(tt.in, tt.file)
			var s model.Sample
			var err error
			for err == nil {
				err = r.Read(&s)
			}
			if err == io.EOF || err.Error() != tt.want {
				t.Fatalf("error\n got %v\nwant %s", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if again := r.Read(&s); again != err {
				t.Errorf("next Read = %v; want the same error", again)
			}
		})
	}
}

func TestReaderCompressedHint(t *testing.T) {
	for _, tt := range []struct {
		data []byte
		want string
	}{
		{gzipped(t, "1 a\n"), "x.txt:1:1: binary data: gzip-compressed, but the file name does not end in .gz"},
		{[]byte("BZh91AY&SY\x01\x02"), "x.txt:1:1: binary data: bzip2-compressed, but the file name does not end in .bz2"},
		{[]byte("\x28\xb5\x2f\xfd\x04\x00"), "x.txt:1:1: binary data: zstd-compressed, but the file name does not end in .zst"},
	} {
		r := model.NewReader(bytes.NewReader(tt.data), "x.txt")
		var s model.Sample
		if err := r.Read(&s); err == nil || err.Error() != tt.want || !errors.Is(err, model.ErrBinary) {
			t.Errorf("Read(%q) = %v; want %s", tt.data, err, tt.want)
		}
	}
}

func TestReaderLabelModes(t *testing.T) {
	input := "1 a:1\na:2 b\n0 c\nx:1\n1\nb c\n"
	for _, tt := range []struct {
		mode model.LabelMode
		want []string
	}{
		{model.LabelRequired, []string{"1 1 [{a 1}]", `in.txt:2:1: label "a:2" is not 1, +1, 0 or -1`, "3 0 [{c 1}]",
			`in.txt:4:1: label "x:1" is not 1, +1, 0 or -1`, "5 1 []", `in.txt:6:1: label "b" is not 1, +1, 0 or -1`}},
		{model.LabelOptional, []string{"1 1 [{a 1}]", "2 none [{a 2} {b 1}]", "3 0 [{c 1}]", "4 none [{x 1}]", "5 1 []",
			`in.txt:6:1: label "b" is not 1, +1, 0 or -1 (a line without a label starts with a name:value feature)`}},
		{model.LabelNone, []string{"1 none [{1 1} {a 1}]", "2 none [{a 2} {b 1}]", "3 none [{0 1} {c 1}]", "4 none [{x 1}]",
			"5 none [{1 1}]", "6 none [{b 1} {c 1}]"}},
	} {
		r := model.NewReader(strings.NewReader(input), "in.txt")
		r.Labels = tt.mode
		var got []string
		var s model.Sample
		for {
			err := r.Read(&s)
			if err == io.EOF {
				break
			}
			if err != nil {
				got = append(got, err.Error())
				if want := strings.SplitN(input, "\n", int(r.Line())+1)[r.Line()-1]; string(r.Text()) != want {
					t.Errorf("Text() = %q; want %q", r.Text(), want)
				}
				continue
			}
			label := fmt.Sprint(s.Label)
			if !model.Labelled(s.Label) {
				label = "none"
			}
			got = append(got, fmt.Sprintf("%d %s %v", s.Line, label, s.Features))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("mode %d:\n got %q\nwant %q", tt.mode, got, tt.want)
		}
	}
}

// TestRangeReader reads lines 4..6 of a file from where line 4 starts:
// numbered as in the file, the last line's limit kept even when the
// source goes on, and a byte order mark inside the file is not skipped.
func TestRangeReader(t *testing.T) {
	src := "1 a\n\n\xEF\xBB\xBF1 b\n# c\n0 d:2\n1 e\n"
	at := strings.Index(src, "\xEF")
	r := model.NewRangeReader(strings.NewReader(src[at:]), "f.txt", 3, 5)
	var s model.Sample
	err := r.Read(&s)
	var pe *model.ParseError
	require.ErrorAs(t, err, &pe, "a byte order mark inside the file is part of the line")
	require.Equal(t, int64(3), pe.Line)
	require.NoError(t, r.Read(&s))
	require.Equal(t, int64(5), s.Line)
	require.Equal(t, "d", s.Features[0].Name)
	require.Equal(t, io.EOF, r.Read(&s), "line 6 is past the range")

	r = model.NewRangeReader(strings.NewReader(src), "f.txt.gz", 1, 2)
	require.ErrorContains(t, r.Read(&s), "f.txt.gz: a gzip file cannot be read from the middle")
}
