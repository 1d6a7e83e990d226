package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dpmr/dpmr/pipeline"
)

func init() {
	register(command{name: "plan", summary: "predict each keyed stage's load balance and speedup on W workers", setup: planSetup})
}

func planSetup(fs *flag.FlagSet) func() error {
	workdir := fs.String("workdir", "", "a training work `DIR` whose index (DIR/index) to read (required)")
	workers := fs.String("workers", "33,100,200", "worker counts to plan for, separated by commas")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	return func() error {
		if *workdir == "" {
			return usageError("--workdir is required")
		}
		var ws []int
		for _, part := range splitList(*workers) {
			w, err := strconv.Atoi(part)
			if err != nil || w < 1 {
				return usageError("--workers: %q is not a worker count", part)
			}
			ws = append(ws, w)
		}
		ctx := context.Background()
		index, err := pipeline.ReadManifest(ctx, strings.TrimSuffix(*workdir, "/")+"/index")
		if err != nil {
			return err
		}
		ks, err := pipeline.ReadKeySizes(ctx, index)
		if err != nil {
			return err
		}
		plans := ks.Plan(ws)
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(plans)
		}
		fmt.Printf("%d (feature, block) pairs, %d postings; DistributeParameters' keys are parameter partitions\n"+
			"(work: pairs served; sharding as the index was built, or none), RestoreDocuments' are the index's\n"+
			"block shards (work: postings, which the blocks' search and gradients follow); keys hash-partitioned over the workers\n\n", ks.Pairs, ks.Postings)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "stage\tsharding\tworkers\tkeys\tlargest key\tbalance\tspeedup\tbound\t")
		for _, p := range plans {
			sh := "off"
			if p.Sharded {
				sh = "on"
			} else if p.Stage == "RestoreDocuments" {
				sh = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.2f\t%.1f\t%.1f\t\n", p.Stage, sh, p.Workers, p.Keys, p.LargestK, p.Balance, p.Speedup, p.Bound)
		}
		return tw.Flush()
	}
}
