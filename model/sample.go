package model

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Feature is one name:value pair of a sample.
type Feature struct {
	Name  string
	Value float64
}

// Sample is one line. File and Line are its identity: they are
// deterministic, so a run can be reproduced and every error or prediction
// points back to its source line.
type Sample struct {
	File string
	Line int64 // 1-based physical line number in File
	// Label is 0 or 1, or under multiclass the class number 0..K-1, or
	// NoLabel for a line read without one.
	Label float64
	// Weight is the sample's weight in the loss, from a first token
	// label:weight; 1 when the line gives none. A weight of 2 counts the
	// sample as if its line were written twice. The parser always sets
	// it; 0, in a Sample built otherwise, means 1 (SampleWeight).
	Weight   float64
	Features []Feature
}

// NoLabel is the Label of a sample whose line has none (LabelOptional,
// LabelNone). It is a NaN, so that it can never pass for a class: test
// for it with Labelled.
var NoLabel = math.NaN()

// Labelled reports whether y is a label, not NoLabel.
func Labelled(y float64) bool { return !math.IsNaN(y) }

// LabelMode says whether a line starts with a label.
type LabelMode uint8

const (
	// LabelRequired: every sample line starts with its label (training
	// data, a test set). The zero value.
	LabelRequired LabelMode = iota
	// LabelOptional: a line whose first token contains ':' (a name:value
	// feature) has no label and is all features; any other line starts
	// with its label, as under LabelRequired, though never with a weight:
	// libsvm's unlabelled lines start 1:0.5, feature 1. The one line this
	// cannot express is an unlabelled one whose first feature is written
	// without a value: write it name:1, or use LabelNone.
	LabelOptional
	// LabelNone: no line has a label; every token is a feature, the first
	// one too, even if it reads 1 or 0.
	LabelNone
)

// Values whose magnitude is outside [MinMagnitude, MaxMagnitude], other
// than 0, are refused as out of range. The trainer forms sums of squares
// of values over the whole input (the step size, the curvature), squares
// of sums (the gradient's norm) and products of values with weights that
// scale like 1/value; within these bounds a square is within [1e-200,
// 1e200], so a sum of 2^63 of them, or the square of a sum of 2^63
// values, is still far from overflow (1.8e308), and a feature whose
// values are all tiny cannot make its weight's square overflow either.
const (
	MaxMagnitude = 1e100
	MinMagnitude = 1e-100
)

// rangeMsg ends the error message of a value out of range.
const rangeMsg = "is out of range: nonzero values must have a magnitude between 1e-100 and 1e100"

func inRange(v float64) bool {
	a := math.Abs(v)
	return a == 0 || MinMagnitude <= a && a <= MaxMagnitude
}

// Sentinel errors wrapped by ParseError.Err, for callers that count or skip
// bad lines by kind with errors.Is.
var (
	ErrLabel   = errors.New("bad label")
	ErrFeature = errors.New("bad feature")
	ErrValue   = errors.New("bad value")
	ErrBinary  = errors.New("binary data")
	ErrWeight  = errors.New("bad sample weight")
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
// ParseLine reads the line under LabelRequired; ParseLineLabels takes the
// LabelMode.
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
//   - The label is 1 or +1 (class 1) or 0 or -1 (class 0), or for
//     ParseClassLine a class number; anything else is an ErrLabel. Under
//     LabelRequired it may carry the sample's weight as label:weight
//     (1:2.5), a decimal number > 0 within the values' range; anything
//     else there is an ErrWeight. A line with a label and no features is
//     a valid sample: it still has the bias. A line read without a label (see LabelMode)
//     gets Label NoLabel.
//   - A feature token is name:value, split at the last ':', so names may
//     contain ':' ("a:b:3" is feature "a:b" with value 3); a token with no
//     ':' has value 1. An empty name is an ErrFeature. Names are kept
//     byte-exact and are not checked for UTF-8: identity is the bytes.
//   - A value is a decimal number (no hex, no '_'); 0 or a magnitude
//     between MinMagnitude and MaxMagnitude. An empty, non-numeric, NaN,
//     infinite or out of range value is an ErrValue; so is a nonzero
//     literal too small for float64 (1e-400).
//   - A feature repeated on one line has its values summed (the same for a
//     linear model) and keeps the position of its first appearance; the
//     running sum must stay in range too. Features whose value is 0, given
//     or summed, are dropped: absent means 0. Features are otherwise kept
//     in line order.
//   - A control byte (below 0x20, other than tab) anywhere in a sample line
//     is an ErrBinary; it almost always means a binary file was given.
//
// A non-nil error is always a *ParseError; dst then holds no features.
func ParseLine(dst *Sample, file string, line int64, text []byte) (ok bool, err error) {
	return ParseLineLabels(dst, file, line, text, LabelRequired)
}

// ParseLineLabels is ParseLine with the LabelMode given.
func ParseLineLabels(dst *Sample, file string, line int64, text []byte, labels LabelMode) (ok bool, err error) {
	return parseLine(dst, file, line, text, labels, false)
}

// ParseClassLine is ParseLineLabels for multiclass data: the label is a
// class number, 0 to MaxClasses-1 in decimal digits ("+1" and "-1" are
// not classes).
func ParseClassLine(dst *Sample, file string, line int64, text []byte, labels LabelMode) (ok bool, err error) {
	return parseLine(dst, file, line, text, labels, true)
}

// MaxClasses bounds the number of classes of multiclass data; a model has
// a weight per class and feature.
const MaxClasses = 1000

func parseLine(dst *Sample, file string, line int64, text []byte, labels LabelMode, classes bool) (ok bool, err error) {
	dst.File, dst.Line, dst.Label, dst.Weight = file, line, 0, 1
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
	first, weight, weighted := s[start:end], "", false
	if c := strings.LastIndexByte(first, ':'); c >= 0 && labels == LabelRequired && (isLabel(first[:c]) || classes && classOf(first[:c]) >= 0) {
		first, weight, weighted = first[:c], first[c+1:], true
	}
	switch {
	case labels == LabelNone || labels == LabelOptional && !weighted && strings.IndexByte(first, ':') >= 0:
		dst.Label = NoLabel
		end = start // the first token is a feature
	case classes:
		k := classOf(first)
		if k < 0 {
			msg := fmt.Sprintf("label %s is not a class number (0 to %d, digits only)", quote(first), MaxClasses-1)
			if labels == LabelOptional {
				msg += " (a line without a label starts with a name:value feature)"
			}
			return false, lineErr(file, line, start+1, ErrLabel, msg)
		}
		dst.Label = float64(k)
	case first == "1" || first == "+1":
		dst.Label = 1
	case first == "0" || first == "-1":
		dst.Label = 0
	default:
		msg := fmt.Sprintf("label %s is not 1, +1, 0 or -1", quote(first))
		if labels == LabelOptional {
			msg += " (a line without a label starts with a name:value feature)"
		}
		return false, lineErr(file, line, start+1, ErrLabel, msg)
	}
	if weighted {
		w, msg := parseValue(weight)
		if msg == "" && !(w > 0) {
			msg = "is not > 0"
		}
		if msg != "" {
			return false, lineErr(file, line, start+len(first)+2, ErrWeight, fmt.Sprintf("weight %s of the sample %s", quote(weight), msg))
		}
		dst.Weight = w
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
		if !inRange(sum) {
			dst.Features = fs[:0]
			return false, lineErr(file, line, i+1, ErrValue,
				fmt.Sprintf("sum of values of feature %s %s", quote(name), rangeMsg))
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

func isLabel(tok string) bool { return tok == "1" || tok == "+1" || tok == "0" || tok == "-1" }

// classOf is the class a multiclass label names, or -1: decimal digits
// without a sign or a leading zero, below MaxClasses.
func classOf(tok string) int {
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return -1
	}
	k := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < '0' || c > '9' {
			return -1
		}
		if k = 10*k + int(c-'0'); k >= MaxClasses {
			return -1
		}
	}
	return k
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

// parseValue parses a decimal float that is 0 or in range. On failure it
// returns the end of the error message ("is not a number", ...).
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
		return 0, rangeMsg // overflow
	case err != nil:
		return 0, "is not a number"
	case f == 0 && nonzeroDigits(v):
		return 0, rangeMsg // underflow: ParseFloat rounds to 0 quietly
	case !inRange(f):
		return 0, rangeMsg
	}
	return f, ""
}

// nonzeroDigits reports whether a decimal literal's mantissa has a digit
// other than 0: whether it means a number other than 0.
func nonzeroDigits(v string) bool {
	for k := 0; k < len(v) && v[k] != 'e' && v[k] != 'E'; k++ {
		if '1' <= v[k] && v[k] <= '9' {
			return true
		}
	}
	return false
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

// Reader streams samples from a text file in the format of ParseLine. It is
// the one line reader of dpmr: the in-memory trainer and the pipeline's
// workers both read their input through it.
//
// It has no line-length limit (bufio.Scanner stops at 64 KiB, and one
// sample with millions of features is a single line). Line numbers count
// physical lines of the text, blank and comment lines included, so they
// match an editor's; for a compressed file they are the lines of the
// decompressed text. A UTF-8 byte order mark at the start of the text is
// skipped. A last line without a trailing newline is read like any other.
//
// The file name's extension says how the input is compressed: ".gz" is
// gzip (several concatenated members too) and ".bz2" is bzip2, read
// transparently, in any letter case; other names are plain text. Names of
// other compressed formats (".zst", ".xz", ".lz4", ".zip", ".7z") are
// refused with a message saying to decompress them first. An empty file is
// an empty input whatever its name.
type Reader struct {
	// Labels says how lines start; the zero value requires a label.
	Labels LabelMode
	// Multiclass reads labels as class numbers (ParseClassLine).
	Multiclass bool

	src   *sourceReader
	file  string
	codec string        // "gzip", "bzip2" or "" for plain text
	br    *bufio.Reader // nil until the first Read opens the input
	line  int64
	last  int64  // the number of the last line to read; 0: to the end
	text  []byte // the last line read, without its end of line
	long  []byte // accumulates a line longer than br's buffer
	err   error  // sticky: io.EOF or a read error
}

// NewReader returns a Reader of r; file names the input in samples and
// errors, and its extension says how r is compressed. Nothing is read
// before the first Read.
func NewReader(r io.Reader, file string) *Reader {
	return &Reader{src: &sourceReader{r: r}, file: file, codec: Compression(file)}
}

// NewRangeReader returns a Reader of lines first..last of a plain text
// file, r starting where line first starts: one split of a file cut at
// line boundaries so that several workers read it. Lines are numbered from
// first, as in the whole file, and a byte order mark is looked for only
// when first is 1. A compressed file cannot be cut; reading one this way
// is an error.
func NewRangeReader(r io.Reader, file string, first, last int64) *Reader {
	rd := NewReader(r, file)
	rd.line, rd.last = first-1, last
	if rd.codec != "" {
		rd.err = fmt.Errorf("%s: a %s file cannot be read from the middle", file, rd.codec)
	}
	return rd
}

// Compression returns the compression a file name's extension implies:
// "gzip", "bzip2", or "" for plain text.
func Compression(file string) string {
	switch ext := strings.ToLower(path.Ext(file)); ext {
	case ".gz":
		return "gzip"
	case ".bz2":
		return "bzip2"
	}
	return ""
}

// unsupported names compressed formats that Reader does not decompress,
// by extension, with the command that does.
var unsupported = map[string]string{
	".zst": "zstd -d", ".xz": "xz -d", ".lz4": "lz4 -d", ".zip": "unzip", ".7z": "7z x",
}

// UnsupportedCompression returns an error, naming the file, when its name
// says it is compressed in a format Reader does not read; nil otherwise.
func UnsupportedCompression(file string) error {
	ext := strings.ToLower(path.Ext(file))
	if cmd, ok := unsupported[ext]; ok {
		return fmt.Errorf("%s: %s-compressed input is not supported: decompress it first (%s), or compress it with gzip (.gz) or bzip2 (.bz2)",
			file, strings.TrimPrefix(ext, "."), cmd)
	}
	return nil
}

var bom = []byte("\xEF\xBB\xBF")

// Read parses the next sample into dst, skipping blank and comment lines;
// dst's Features are reused as in ParseLine. Read returns io.EOF at the end
// and a *ParseError for a malformed line, after which the next call goes on
// with the following line. If reading fails, or the compressed data is
// damaged or truncated, Read returns an error naming the file, on that call
// and every later one.
func (r *Reader) Read(dst *Sample) error {
	if r.br == nil && r.err == nil {
		r.err = r.open()
	}
	for r.err == nil {
		if r.last > 0 && r.line >= r.last {
			r.err = io.EOF
			break
		}
		text, err := r.readLine()
		if err != nil && err != io.EOF {
			// A line cut short by a failed read is not trusted.
			r.err = r.readError(err)
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
		r.text = trimEOL(text)
		ok, perr := parseLine(dst, r.file, r.line, text, r.Labels, r.Multiclass)
		if perr != nil {
			if hint := compressedHint(text); r.line == 1 && r.codec == "" && hint != "" {
				return lineErr(r.file, r.line, 1, ErrBinary, hint)
			}
			return perr
		}
		if ok {
			return nil
		}
	}
	return r.err
}

// Text returns the last line Read read, without its end of line: the
// malformed line after a *ParseError. It is valid until the next Read.
func (r *Reader) Text() []byte { return r.text }

// Line returns the number of the last line Read read.
func (r *Reader) Line() int64 { return r.line }

// open sets up decompression.
func (r *Reader) open() error {
	if err := UnsupportedCompression(r.file); err != nil {
		return err
	}
	var in io.Reader = r.src
	switch r.codec {
	case "gzip":
		zr, err := gzip.NewReader(r.src)
		if err != nil {
			if err == io.EOF && r.src.n == 0 {
				return io.EOF // an empty file
			}
			return r.readError(err)
		}
		in = zr
	case "bzip2":
		in = bzip2.NewReader(r.src)
	}
	r.br = bufio.NewReaderSize(in, 64<<10)
	return nil
}

// readError describes a failure to read, after the lines read so far.
func (r *Reader) readError(err error) error {
	switch {
	case r.src.err != nil && r.src.err != io.EOF:
		// The file could not be read: the data is not at fault.
		return fmt.Errorf("reading %s after line %d: %w", r.file, r.line, r.src.err)
	case r.codec == "":
		return fmt.Errorf("reading %s after line %d: %w", r.file, r.line, err)
	case r.codec == "bzip2" && r.src.n == 0 && err == io.ErrUnexpectedEOF:
		return io.EOF // an empty file
	case r.line == 0:
		return fmt.Errorf("%s is not %s data, or is damaged or truncated (it is read as %s because of its name): %w",
			r.file, r.codec, r.codec, err)
	}
	return fmt.Errorf("%s: %s data damaged or truncated after line %d: %w", r.file, r.codec, r.line, err)
}

// compressedHint names the compression of a file whose first line starts
// with a compressed format's magic bytes, for the error of reading it as
// text.
func compressedHint(text []byte) string {
	for _, m := range []struct{ magic, format, ext string }{
		{"\x1f\x8b", "gzip", ".gz"},
		{"BZh", "bzip2", ".bz2"},
		{"\x28\xb5\x2f\xfd", "zstd", ".zst"},
	} {
		if bytes.HasPrefix(text, []byte(m.magic)) && (m.format != "bzip2" || bytes.Contains(text[:min(len(text), 10)], []byte("1AY&SY"))) {
			return fmt.Sprintf("binary data: %s-compressed, but the file name does not end in %s", m.format, m.ext)
		}
	}
	return ""
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

// sourceReader counts the bytes of the file and keeps its first error, so
// that a failure to read the file is told apart from damaged data.
type sourceReader struct {
	r   io.Reader
	n   int64
	err error
}

func (s *sourceReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	s.n += int64(n)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}
