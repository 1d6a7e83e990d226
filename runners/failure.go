package runners

import (
	"errors"
	"regexp"
	"strings"
)

// JobError is a job that a runner ran and that failed. Its text is the
// runner's own, unchanged: with Beam that is often dozens of lines (the
// failed bundle's whole plan, a stack) around the one line that says what
// went wrong. Summary finds that line.
type JobError struct {
	Runner string // the --runner it ran on
	Err    error  // what beam.Run returned
}

func (e *JobError) Error() string { return e.Err.Error() }
func (e *JobError) Unwrap() error { return e.Err }

// Summary is the failure in one line: the message of the DoFn that failed
// (dpmr's own, which names the file or the element and what is wrong),
// else the innermost cause Beam gives, else the first line of the
// runner's error.
func (e *JobError) Summary() string { return summarize(e.Err.Error()) }

// Beam (2.77) formats a failed DoFn as "DoFn[UID:.., PID:.., Name: ..]
// failed:\n<the DoFn's error>" (exec.doFnError), on the direct runner and
// in the message a portable job service reports alike, and chains causes
// with "\n\tcaused by:\n". A DoFn that panicked reports "panic: <value>
// <stack>".
var (
	doFnFailed  = regexp.MustCompile(`DoFn\[UID:[^\]]*\] failed:\n`)
	causedBy    = "\n\tcaused by:\n"
	panicStack  = regexp.MustCompile(` goroutine \d+ \[`)
	maxSummary  = 1000
	blankSpaces = regexp.MustCompile(`\s+`)
)

func summarize(s string) string {
	if locs := doFnFailed.FindAllStringIndex(s, -1); len(locs) > 0 {
		s = s[locs[len(locs)-1][1]:]
	} else if i := strings.LastIndex(s, causedBy); i >= 0 {
		s = s[i+len(causedBy):]
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "panic: ") {
		if loc := panicStack.FindStringIndex(s); loc != nil {
			s = s[:loc[0]]
		}
	}
	if first, rest, ok := strings.Cut(s, "\n"); ok {
		// A heading such as "job job-001 failed:" says nothing by itself;
		// the line after it does.
		if next, _, _ := strings.Cut(strings.TrimSpace(rest), "\n"); strings.HasSuffix(first, ":") && next != "" {
			first += " " + next
		}
		s = first
	}
	s = strings.TrimRight(strings.TrimSpace(s), ":")
	s = blankSpaces.ReplaceAllString(s, " ")
	if len(s) > maxSummary {
		s = s[:maxSummary] + "..."
	}
	return s
}

// Brief returns err in one line for a user: when err holds a *JobError,
// the text dpmr put before the runner's (such as "pass 3: ") followed by
// the JobError's Summary, and true; otherwise err's own text and false.
func Brief(err error) (string, bool) {
	var je *JobError
	if !errors.As(err, &je) {
		return err.Error(), false
	}
	full, runner := err.Error(), je.Error()
	prefix, suffix := "", ""
	if i := strings.LastIndex(full, runner); i >= 0 {
		prefix, suffix = full[:i], full[i+len(runner):]
		if strings.Contains(suffix, "\n") {
			suffix = ""
		}
	}
	sum := je.Summary()
	if sum == "" {
		sum = "the job failed on the " + je.Runner + " runner"
	}
	return prefix + sum + suffix, true
}
