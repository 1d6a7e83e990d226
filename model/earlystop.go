package model

import (
	"fmt"
	"strings"
)

// EarlyStop picks the pass whose weights score best on a held-out test
// set, instead of the last one. On real text data the test metrics may
// peak long before J's optimum (sotu, every 5th line held out: AUC 0.898
// at pass 3 against 0.858 at the optimum, pass 34), and every pass's
// weights are already kept as a snapshot, so choosing costs nothing.
type EarlyStop struct {
	// Metric is one of EarlyStopMetrics; "" turns early stopping off.
	Metric string
	// Patience stops training once that many passes in a row have not
	// bettered the best test metric so far (VW's early_terminate); 0
	// trains on to the usual stop rules and only chooses the pass.
	Patience int
}

// EarlyStopMetrics are the test metrics EarlyStop can choose by, each with
// the value it maximizes.
var EarlyStopMetrics = []struct {
	Name  string
	Help  string
	Score func(*Metrics) (float64, bool) // the value to maximize, and whether it is defined
}{
	{"auc", "test AUC", func(m *Metrics) (float64, bool) { return m.AUC, m.AUCDefined }},
	{"logloss", "test log-loss (lowest)", func(m *Metrics) (float64, bool) { return -m.LogLoss, true }},
	{"f1", "test F1 of the positive class", func(m *Metrics) (float64, bool) { return m.Positive.F1, true }},
	{"macro-f1", "test F1 averaged over the two classes", func(m *Metrics) (float64, bool) { return m.MacroF1, true }},
}

// EarlyStopHelp lists the metrics for a flag's help.
func EarlyStopHelp() string {
	var names []string
	for _, m := range EarlyStopMetrics {
		names = append(names, m.Name+" ("+m.Help+")")
	}
	return strings.Join(names, ", ")
}

// Enabled tells whether a metric was chosen.
func (e EarlyStop) Enabled() bool { return e.Metric != "" }

// Validate reports an unknown metric or a negative patience.
func (e EarlyStop) Validate() error {
	if e.Patience < 0 {
		return fmt.Errorf("patience %d must be >= 0", e.Patience)
	}
	if !e.Enabled() {
		return nil
	}
	if _, err := e.score(); err != nil {
		return err
	}
	return nil
}

func (e EarlyStop) score() (func(*Metrics) (float64, bool), error) {
	for _, m := range EarlyStopMetrics {
		if m.Name == e.Metric {
			return m.Score, nil
		}
	}
	var names []string
	for _, m := range EarlyStopMetrics {
		names = append(names, m.Name)
	}
	return nil, fmt.Errorf("unknown early-stop metric %q (want one of %s)", e.Metric, strings.Join(names, ", "))
}

// EarlyChoice is the pass EarlyStop chose, as model.json records it.
type EarlyChoice struct {
	Metric string  `json:"metric"`
	Pass   int     `json:"pass"`
	Value  float64 `json:"value"` // the metric itself (log-loss, not its negation)
	// Patience is the setting in force; Stopped tells whether it ended
	// training.
	Patience int  `json:"patience"`
	Stopped  bool `json:"stopped_training"`
}

// Best returns the pass of history whose test metric is best, the earliest
// of equal ones (fewer passes, the same score), and ok false when no pass
// has the metric defined (no test set, or AUC on one class only).
func (e EarlyStop) Best(history []Figures) (choice EarlyChoice, ok bool) {
	score, err := e.score()
	if err != nil {
		return EarlyChoice{}, false
	}
	best := 0.0
	for i, f := range history {
		if f.Test == nil {
			continue
		}
		v, defined := score(f.Test)
		if defined && (!ok || v > best) {
			best, ok = v, true
			choice = EarlyChoice{Metric: e.Metric, Pass: i, Patience: e.Patience}
		}
	}
	if ok {
		choice.Value = best
		if e.Metric == "logloss" {
			choice.Value = -best
		}
	}
	return choice, ok
}

// StopEarly is the stop reason when Patience passes in a row did not
// better the test metric.
const StopEarly Stop = "early-stop"

// Stop tells whether training should end because the last Patience passes
// all failed to better the best test metric before them.
func (e EarlyStop) Stop(history []Figures) bool {
	if !e.Enabled() || e.Patience == 0 {
		return false
	}
	c, ok := e.Best(history)
	return ok && len(history)-1-c.Pass >= e.Patience
}
