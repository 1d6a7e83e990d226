package model

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Feature is one name:value pair of a sample.
type Feature struct {
	Name  string
	Value float64
}

// Sample is one labelled line. File and Line are its identity: they are
// deterministic, so a run can be reproduced and every error or prediction
// points back to its source line.
type Sample struct {
	File     string
	Line     int64   // 1-based physical line number in File
	Label    float64 // 0 or 1
	Features []Feature
}

// Sentinel errors wrapped by ParseError.Err, for callers that count or skip
// bad lines by kind with errors.Is.
var (
	ErrLabel   = errors.New("bad label")
	ErrFeature = errors.New("bad feature")
	ErrValue   = errors.New("bad value")
	ErrBinary  = errors.New("binary data")
)

// ParseError reports a malformed line as File:Line:Column: message, the
// form editors and compilers use, so a user can jump to the spot.
type ParseError struct {
	File   string
	Line   int64
	Column int // 1-based byte column of the offending token or byte; 0 for the whole line
	Err    error
}

func (e *ParseError) Error() string {
	if e.Column == 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// lineError carries a precise message while still matching its sentinel
// under errors.Is.
type lineError struct {
	kind error
	msg  string
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.kind }

// ParseLine parses one line of the sample format into dst. It reuses
// dst.Features' backing array, so a caller that keeps a sample past the next
// call must copy Features; names are immutable strings and may be kept.
// All names of a line share one allocation.
//
// text is one line; a trailing "\n", "\r\n" or "\r" is stripped. ok is false,
// with a nil error, for lines that carry no sample: blank lines (only spaces
// and tabs) and comment lines, whose first non-blank byte is '#'. Comments
// are whole lines only: a '#' later on a line is part of a feature name, so
// svmlight-style trailing comments are not supported.
//
// The format is `<label> <feature> <feature> ...`, tokens separated by runs
// of spaces and tabs:
//
//   - The label is 1 or +1 (class 1) or 0 or -1 (class 0); anything else is
//     an ErrLabel. A line with a label and no features is a valid sample:
//     it still has the bias.
//   - A feature token is name:value, split at the last ':', so names may
//     contain ':' ("a:b:3" is feature "a:b" with value 3); a token with no
//     ':' has value 1. An empty name is an ErrFeature. Names are kept
//     byte-exact and are not checked for UTF-8: identity is the bytes.
//   - A value is a decimal number (no hex, no '_') that is finite as a
//     float64; an empty, non-numeric, NaN, infinite or overflowing value is
//     an ErrValue. Values too small for float64 round to 0.
//   - A feature repeated on one line has its values summed (the same for a
//     linear model) and keeps the position of its first appearance; the
//     running sum must stay finite. Features whose value is 0, given or
//     summed, are dropped: absent means 0. Features are otherwise kept in
//     line order.
//   - A control byte (below 0x20, other than tab) anywhere in a sample line
//     is an ErrBinary; it almost always means a binary file was given.
//
// A non-nil error is always a *ParseError; dst then holds no features.
func ParseLine(dst *Sample, file string, line int64, text []byte) (ok bool, err error) {
	dst.File, dst.Line, dst.Label = file, line, 0
	dst.Features = dst.Features[:0]

	text = trimEOL(text)
	start := skipBlanks(text, 0)
	if start == len(text) || text[start] == '#' {
		return false, nil
	}
	// Binary data is reported before anything else: the token errors it
	// would otherwise cause only hide the real problem.
	for i := start; i < len(text); i++ {
		if c := text[i]; c < ' ' && c != '\t' {
			return false, lineErr(file, line, i+1, ErrBinary, fmt.Sprintf("binary data (byte 0x%02x)", c))
		}
	}

	// One copy per line; names and values are substrings of it.
	s := string(text)
	end := nextBlank(s, start)
	switch s[start:end] {
	case "1", "+1":
		dst.Label = 1
	case "0", "-1":
		dst.Label = 0
	default:
		return false, lineErr(file, line, start+1, ErrLabel,
			fmt.Sprintf("label %s is not 1, +1, 0 or -1", quote(s[start:end])))
	}

	fs := dst.Features
	var stack [128]int
	ix := nameIndex{slots: stack[:]}
	for i := skipBlanks(s, end); i < len(s); i = skipBlanks(s, end) {
		end = nextBlank(s, i)
		name, value, err := parseFeature(s[i:end])
		if err != nil {
			dst.Features = fs[:0]
			return false, &ParseError{File: file, Line: line, Column: i + 1, Err: err}
		}
		at, slot := ix.find(fs, name)
		if at < 0 {
			fs = append(fs, Feature{Name: name, Value: value})
			ix.add(fs, slot)
			continue
		}
		sum := fs[at].Value + value
		if math.IsInf(sum, 0) {
			dst.Features = fs[:0]
			return false, lineErr(file, line, i+1, ErrValue,
				fmt.Sprintf("sum of values of feature %s is out of range", quote(name)))
		}
		fs[at].Value = sum
	}

	// Drop zeros in place, keeping order.
	n := 0
	for _, f := range fs {
		if f.Value != 0 {
			fs[n] = f
			n++
		}
	}
	dst.Features = fs[:n]
	return true, nil
}

func lineErr(file string, line int64, col int, kind error, msg string) *ParseError {
	return &ParseError{File: file, Line: line, Column: col, Err: &lineError{kind: kind, msg: msg}}
}

// nameIndex finds a name among the features already parsed on a line, so
// that merging duplicates costs O(1) per feature even on a line with
// millions. It is a linear-probing hash table of positions; a typical line
// fits the caller's stack array, so lookups allocate nothing (a map would
// allocate for every line).
type nameIndex struct {
	slots []int // 1 + position in the features; 0 marks an empty slot
}

// nameSeed only spreads names over slots: results do not depend on it.
var nameSeed = maphash.MakeSeed()

// find returns the position of name in fs, or -1 and the free slot for it.
func (ix *nameIndex) find(fs []Feature, name string) (at, slot int) {
	mask := uint64(len(ix.slots) - 1)
	for i := maphash.String(nameSeed, name) & mask; ; i = (i + 1) & mask {
		p := ix.slots[i]
		if p == 0 {
			return -1, int(i)
		}
		if fs[p-1].Name == name {
			return p - 1, -1
		}
	}
}

// add records the last feature of fs in slot, as returned by find, and
// keeps the table at most half full.
func (ix *nameIndex) add(fs []Feature, slot int) {
	ix.slots[slot] = len(fs)
	if 2*len(fs) <= len(ix.slots) {
		return
	}
	ix.slots = make([]int, 4*len(ix.slots))
	for k := range fs {
		_, free := ix.find(fs[:k], fs[k].Name)
		ix.slots[free] = k + 1
	}
}

// parseFeature splits a non-empty token at its last ':' and parses the value.
func parseFeature(tok string) (name string, value float64, err error) {
	colon := strings.LastIndexByte(tok, ':')
	if colon < 0 {
		return tok, 1, nil
	}
	name, v := tok[:colon], tok[colon+1:]
	if name == "" {
		return "", 0, &lineError{ErrFeature, fmt.Sprintf("feature %s has an empty name", quote(tok))}
	}
	if v == "" {
		return "", 0, &lineError{ErrValue, fmt.Sprintf("feature %s has an empty value", quote(name))}
	}
	value, msg := parseValue(v)
	if msg != "" {
		return "", 0, &lineError{ErrValue, fmt.Sprintf("value %s of feature %s %s", quote(v), quote(name), msg)}
	}
	return name, value, nil
}

// parseValue parses a finite decimal float. On failure it returns the end of
// the error message ("is not a number", ...).
func parseValue(v string) (float64, string) {
	// Fast path for small counts, the usual value: exact below 2^53.
	if 0 < len(v) && len(v) <= 15 {
		x := 0
		k := 0
		for ; k < len(v) && '0' <= v[k] && v[k] <= '9'; k++ {
			x = 10*x + int(v[k]-'0')
		}
		if k == len(v) {
			return float64(x), ""
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return 0, "is not finite" // "nan", "inf", "infinity" in any case
	}
	// ParseFloat also takes Go syntax (hex floats, '_' between digits) that
	// other readers of the same file would reject. Checked before the range
	// so that an overflowing hex float is "not a number" too.
	for k := 0; k < len(v); k++ {
		switch c := v[k]; {
		case '0' <= c && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
		default:
			return 0, "is not a number"
		}
	}
	switch {
	case errors.Is(err, strconv.ErrRange):
		// Only overflow is a range error; underflow rounds to zero quietly.
		return 0, "is out of range"
	case err != nil:
		return 0, "is not a number"
	}
	return f, ""
}

// maxQuoted bounds the bytes of a token echoed in an error message, so a
// bad token on a 10 MB line does not make a 10 MB message.
const maxQuoted = 64

func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func trimEOL[T string | []byte](b T) T {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func skipBlanks[T string | []byte](b T, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

func nextBlank[T string | []byte](b T, i int) int {
	for i < len(b) && b[i] != ' ' && b[i] != '\t' {
		i++
	}
	return i
}

// Reader streams samples from a text file in the format of ParseLine. It has
// no line-length limit (bufio.Scanner stops at 64 KiB, and one sample with
// millions of features is a single line). Line numbers count physical
// lines, blank and comment lines included, so they match an editor's. A
// UTF-8 byte order mark at the start of the input is skipped. A last line
// without a trailing newline is read like any other.
type Reader struct {
	br   *bufio.Reader
	file string
	line int64
	long []byte // accumulates a line longer than br's buffer
	err  error  // sticky: io.EOF or a read error
}

// NewReader returns a Reader of r; file names the input in samples and
// errors.
func NewReader(r io.Reader, file string) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), file: file}
}

var bom = []byte("\xEF\xBB\xBF")

// Read parses the next sample into dst, skipping blank and comment lines;
// dst's Features are reused as in ParseLine. Read returns io.EOF at the end
// and a *ParseError for a malformed line, after which the next call goes on
// with the following line. If reading fails, Read returns an error wrapping
// the failure, on that call and every later one.
func (r *Reader) Read(dst *Sample) error {
	for r.err == nil {
		text, err := r.readLine()
		if err != nil && err != io.EOF {
			// A line cut short by a failed read is not trusted.
			r.err = fmt.Errorf("reading %s after line %d: %w", r.file, r.line, err)
			break
		}
		if err == io.EOF {
			r.err = io.EOF
			if len(text) == 0 {
				break
			}
		}
		r.line++
		if r.line == 1 {
			text = bytes.TrimPrefix(text, bom)
		}
		ok, perr := ParseLine(dst, r.file, r.line, text)
		if perr != nil {
			return perr
		}
		if ok {
			return nil
		}
	}
	return r.err
}

// readLine returns the next line with its "\n", valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return b, err
	}
	r.long = append(r.long[:0], b...)
	for err == bufio.ErrBufferFull {
		b, err = r.br.ReadSlice('\n')
		r.long = append(r.long, b...)
	}
	return r.long, err
}
