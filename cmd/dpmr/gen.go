package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/dpmr/dpmr/model"
)

func init() {
	register(command{name: "gen", summary: "write a synthetic data set (Zipf features or text-like documents)", setup: genSetup})
}

// genFlagOf names the flag behind each SynthParams field, so a bad value is
// reported in the user's terms.
var genFlagOf = map[string]string{
	"Samples":   "--samples",
	"Features":  "--features",
	"PerSample": "--per-sample",
	"Zipf":      "--zipf",
	"Noise":     "--noise",
	"Positive":  "--positive",
	"Topics":    "--topics",
}

func genSetup(fs *flag.FlagSet) func() error {
	output := fs.String("output", "-", "`FILE` to write, or - for standard output")
	kind := fs.String("kind", "zipf", "`KIND` of data set: zipf (independent features, planted weights; well conditioned)\nor text (documents conditioned like real text: topics, bigrams, near-separable labels)")
	samples := fs.Int64("samples", 100000, "number of samples (lines)")
	features := fs.Int64("features", 1000000, "size of the feature vocabulary f0 .. f<N-1>; memory does not depend on it\n(--kind text: words w0 .. w<N-1>, at most 2^31, default 20000)")
	perSample := fs.Float64("per-sample", 20, "mean number of distinct features per sample (1 + Poisson), at least 1\n(--kind text: mean tokens per document, default 150)")
	zipf := fs.Float64("zipf", 1.1, "exponent s > 0 of the Zipf law over feature ranks (f0 is the hottest)\n(--kind text: over words, default 1)")
	topics := fs.Int("topics", model.DefaultTextTopics, "number of topics of --kind text")
	noise := fs.Float64("noise", 0.05, "probability of flipping each label, in [0, 0.5)")
	positive := fs.Float64("positive", 0.5, "target fraction of positive labels before noise, in (0, 1)")
	seed := fs.Uint64("seed", 1, "random seed; the same flags and seed give the same bytes")
	shards := fs.Int("shards", 1, "write `N` files FILE-00000-of-0000N, samples split contiguously;\nconcatenated they equal the single file")
	return func() error {
		// Zero means "default" to model.SynthParams; on the command line it
		// can only be a mistake.
		for _, f := range []struct {
			name  string
			value float64
		}{{"--features", float64(*features)}, {"--per-sample", *perSample}, {"--zipf", *zipf}, {"--positive", *positive}, {"--topics", float64(*topics)}} {
			if f.value == 0 {
				return usageError("%s must not be 0", f.name)
			}
		}
		k, err := model.ParseSynthKind(*kind)
		if err != nil {
			return usageError("--kind: %v", err)
		}
		p := model.SynthParams{
			Kind:      k,
			Samples:   *samples,
			Features:  *features,
			PerSample: *perSample,
			Zipf:      *zipf,
			Noise:     *noise,
			Positive:  *positive,
			Seed:      *seed,
			Topics:    *topics,
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case k == model.SynthText:
			// The flags' defaults are zipf's: left unset, they take
			// text's, which a zero field means to model.SynthParams.
			if !set["features"] {
				p.Features = 0
			}
			if !set["per-sample"] {
				p.PerSample = 0
			}
			if !set["zipf"] {
				p.Zipf = 0
			}
		case set["topics"]:
			return usageError("--topics needs --kind text")
		}
		if err := p.Validate(); err != nil {
			var pe *model.SynthParamError
			if errors.As(err, &pe) {
				return usageError("%s %s", genFlagOf[pe.Field], pe.Reason)
			}
			return usageError("%v", err)
		}
		if *shards < 1 {
			return usageError("--shards must be >= 1, got %d", *shards)
		}
		if *output == "-" && *shards > 1 {
			return usageError("--shards needs --output FILE")
		}
		if *output == "" {
			return usageError("--output must name a file, or - for standard output")
		}
		return runGen(p, *output, *shards)
	}
}

// runGen writes the data set and prints one summary line to stderr.
func runGen(p model.SynthParams, output string, shards int) error {
	start := time.Now()
	s, err := model.NewSynth(p)
	if err != nil {
		return err
	}
	// An interrupt stops the writes at the next chunk, so the temporary
	// files are removed rather than left behind.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	var st model.SynthStats
	if output == "-" {
		st, err = s.WriteParallel(ctxWriter{ctx, os.Stdout}, 0, p.Samples, runtime.GOMAXPROCS(0))
	} else {
		st, err = writeShards(ctx, s, output, shards)
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "dpmr gen: %d samples, %d nonzeros, %d positives, %d bytes, %.2f s, %.0f nonzeros/s (planted model accuracy %.3f)\n",
		st.Samples, st.Nonzeros, st.Positives, st.Bytes, secs, float64(st.Nonzeros)/secs, st.Bayes)
	return nil
}

// shardName is the name of shard i of n, as Beam's text sinks name them.
func shardName(output string, i, n int) string {
	if n == 1 {
		return output
	}
	return fmt.Sprintf("%s-%05d-of-%05d", output, i, n)
}

// writeShards writes the samples split contiguously into shards files.
// Each goes to a hidden temporary file in the destination directory, and
// all are renamed only once every one is complete: an interrupted or failed
// run leaves no file that looks finished.
func writeShards(ctx context.Context, s *model.Synth, output string, shards int) (model.SynthStats, error) {
	var st model.SynthStats
	samples := s.Params().Samples
	dir, base := filepath.Split(output)
	if dir == "" {
		dir = "."
	}
	temps := make([]string, 0, shards)
	defer func() {
		// After a successful rename the temporary names are gone, and
		// Remove fails harmlessly.
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	for i := range shards {
		from := samples * int64(i) / int64(shards)
		to := samples * int64(i+1) / int64(shards)
		f, err := os.CreateTemp(dir, "."+base+".tmp-*")
		if err != nil {
			return st, err
		}
		temps = append(temps, f.Name())
		sst, err := s.WriteParallel(ctxWriter{ctx, f}, from, to, runtime.GOMAXPROCS(0))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return st, fmt.Errorf("writing %s: %w", shardName(output, i, shards), err)
		}
		st.Add(sst)
	}
	for i, t := range temps {
		// CreateTemp makes the file private; a data set is for sharing.
		if err := os.Chmod(t, 0o644); err != nil {
			return st, err
		}
		if err := os.Rename(t, shardName(output, i, shards)); err != nil {
			return st, err
		}
	}
	return st, nil
}

// ctxWriter fails writes once ctx is done, which is how an interrupt stops
// the generator between chunks.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("interrupted: %w", err)
	}
	return c.w.Write(p)
}
