package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
)

// libsvm is 30 labelled samples of 4 features (see testdata/README.md).
const libsvm = "../testdata/good/libsvm.txt"

// Train a model on the direct runner, in this process, scoring a test set
// after every pass.
func ExampleTrain() {
	dir, err := os.MkdirTemp("", "dpmr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	res, err := pipeline.Train(context.Background(), pipeline.TrainConfig{
		Inputs:  []string{libsvm},
		Tests:   []string{libsvm},
		WorkDir: filepath.Join(dir, "work"),  // snapshots, to resume from
		Output:  filepath.Join(dir, "model"), // weights-*, model.json, history.csv, history.svg
		Train:   model.TrainParams{Lambda: 1, Bias: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	m := res.Model
	last := res.History[len(res.History)-1]
	fmt.Printf("%d samples, %d features (the intercept included)\n", m.Samples, m.Features)
	fmt.Printf("J %.4f after %d passes, stopped by %s\n", m.J, len(res.History), m.StopReason)
	fmt.Printf("test AUC %.4f\n", last.Test.AUC)
	// Output:
	// 30 samples, 7 features (the intercept included)
	// J 15.7935 after 3 passes, stopped by gradient
	// test AUC 0.8911
}

// trainExample trains the model the examples below use, as ExampleTrain
// does, into dir/model.
func trainExample(dir string) string {
	out := filepath.Join(dir, "model")
	_, err := pipeline.Train(context.Background(), pipeline.TrainConfig{Inputs: []string{libsvm},
		WorkDir: filepath.Join(dir, "work"), Output: out, Train: model.TrainParams{Lambda: 1, Bias: true}})
	if err != nil {
		log.Fatal(err)
	}
	return out
}

// Predict with a pipeline, for data of any size: the model is never held
// in memory.
func ExampleRunPredict() {
	dir, err := os.MkdirTemp("", "dpmr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	modelDir := trainExample(dir)

	info, err := pipeline.RunPredict(context.Background(), pipeline.PredictConfig{
		Model:   modelDir,
		Inputs:  []string{libsvm},
		Output:  filepath.Join(dir, "predictions"), // predictions-*, predictions.json
		WorkDir: filepath.Join(dir, "predict.work"),
		Shards:  1,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d predictions in %d file(s)\n", info.Samples, len(info.Files))
	data, err := os.ReadFile(info.Files[0].Path)
	if err != nil {
		log.Fatal(err)
	}
	// Each line: file, line, label, margin, probability.
	first, _, _ := strings.Cut(string(data), "\n")
	col := strings.Split(first, "\t")
	fmt.Printf("line %s, label %s: probability %.6s\n", col[1], col[2], col[4])
	// Output:
	// 30 predictions in 1 file(s)
	// line 1, label 1: probability 0.8371
}

// Load a model into memory and score samples one at a time, as a server
// would: the sample line is parsed as dpmr reads its input.
func ExampleModel_Score() {
	dir, err := os.MkdirTemp("", "dpmr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	m, err := pipeline.LoadModel(context.Background(), trainExample(dir))
	if err != nil {
		log.Fatal(err)
	}
	var s model.Sample
	for _, line := range []string{"1:1 2:0.5", "3:1 4:2", "1 3:1"} {
		// LabelOptional: a line may start with its label, or not.
		if _, err := model.ParseLineLabels(&s, "request", 1, []byte(line), model.LabelOptional); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-9s p(1) = %.4f, margin %+.4f\n", line, m.Score(&s), m.Margin(&s))
	}
	// Output:
	// 1:1 2:0.5 p(1) = 0.8115, margin +1.4601
	// 3:1 4:2   p(1) = 0.0386, margin -3.2140
	// 1 3:1     p(1) = 0.3368, margin -0.6775
}

// Evaluate a model on a labelled file in memory: model.Evaluator counts
// the metrics in bounded memory, as dpmr eval does from predictions.
func ExampleLoadModel_evaluate() {
	dir, err := os.MkdirTemp("", "dpmr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	m, err := pipeline.LoadModel(context.Background(), trainExample(dir))
	if err != nil {
		log.Fatal(err)
	}

	f, err := os.Open(libsvm)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	eval, err := model.NewEvaluator(0.5, model.EvalAUCBins)
	if err != nil {
		log.Fatal(err)
	}
	r := model.NewReader(f, libsvm)
	var s model.Sample
	for {
		err := r.Read(&s)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if err := eval.Add(s.Label, m.Margin(&s)); err != nil {
			log.Fatal(err)
		}
	}
	met, err := eval.Metrics()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("N %d, accuracy %.4f, log-loss %.4f, AUC %.4f (exact: %v)\n",
		met.N, met.Accuracy, met.LogLoss, met.AUC, met.AUCBound == 0)
	// Output:
	// N 30, accuracy 0.8667, log-loss 0.4608, AUC 0.8911 (exact: true)
}
