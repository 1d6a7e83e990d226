package main

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseClassWeight(t *testing.T) {
	for in, want := range map[string][2]float64{
		"":              {},
		"1=5,0=1":       {1, 5},
		"+1=0.5":        {0, 0.5},
		" -1 = 2 , 1=3": {2, 3},
	} {
		got, err := parseClassWeight(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, msg := range map[string]string{
		"1":        `"1" is not CLASS=WEIGHT`,
		"2=1":      `class "2" is not 1, +1, 0 or -1`,
		"1=0":      `class 1's weight "0" is not a finite number > 0`,
		"0=-1":     `class 0's weight "-1" is not a finite number > 0`,
		"1=inf":    `class 1's weight "inf" is not a finite number > 0`,
		"1=x":      `class 1's weight "x" is not a finite number > 0`,
		"1=2,+1=3": `class +1 is given twice`,
	} {
		_, err := parseClassWeight(in)
		require.EqualError(t, err, msg, in)
	}
}

// TestTrainL1Flags: --l1 is refused before any work where no run could
// minimize it, and picks lbfgs (OWL-QN) when no optimizer is named.
func TestTrainL1Flags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--l1", "-1"}, "--l1 must be >= 0"},
		{[]string{"--l1", "1", "--optimizer", "subspace"}, "l1 needs optimizer lbfgs (OWL-QN), not subspace"},
		{[]string{"--l1", "1", "--optimizer", "gd"}, "l1 needs optimizer lbfgs (OWL-QN), not gd"},
		{[]string{"--l1", "NaN", "--optimizer", "lbfgs"}, "l1 NaN must be a finite number >= 0"},
	} {
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		run := trainSetup(fs)
		require.NoError(t, fs.Parse(append([]string{"--input", "x", "--output", t.TempDir()}, tc.args...)))
		err := run()
		require.True(t, errors.Is(err, errUsage) && strings.Contains(err.Error(), tc.want), "%v: got %v, want usage error %q", tc.args, err, tc.want)
	}
}
