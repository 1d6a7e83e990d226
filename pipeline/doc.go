// Package pipeline trains, applies and stores DPMR logistic regression
// models: the Beam pipelines of a training run (Setup once, then one Pass
// per iteration) and of prediction, the driver that runs them (Train,
// RunPredict), and the files they write: snapshots, model directories and
// prediction outputs. It is what the dpmr command runs, and it is meant to
// be used from Go as well.
//
// # Training
//
// Train reads the inputs (file globs on any Beam file system), runs one
// pipeline per pass until a stop rule of TrainConfig.Train fires, and writes
// the model directory: weights-* files (feature<TAB>weight), model.json,
// history.csv and, for a local directory, history.svg. With Tests set, the
// test set's metrics after every pass are in TrainResult.History. A run
// stopped at any point resumes from its work directory (Resume).
//
// # Prediction
//
// RunPredict scores inputs of any size with a pipeline, the model never
// held in memory, and writes one line per sample:
// file<TAB>line<TAB>label<TAB>margin<TAB>probability. For a model that fits
// in memory, LoadModel reads it once and Model.Score scores one parsed
// sample (model.ParseLineLabels, model.Reader) at a time with no pipeline,
// giving exactly the margin RunPredict writes.
//
// # Evaluation
//
// model.Evaluator computes accuracy, log-loss, AUC, per-class precision,
// recall and F1 in bounded memory from labels and margins however many:
// from Model.Margin as in the LoadModel example, or from a prediction
// output as dpmr eval does.
//
// # Runners and Beam
//
// Each pipeline runs on TrainConfig.Run (PredictConfig.Run): nil is
// runners.Run, the runner the --runner flag names, by default Beam's direct
// runner in this process; runners.Run also takes prism, a portable job
// service (Flink, Spark) and Dataflow. Train and RunPredict initialize Beam
// on first use if the program has not (InitBeam) and keep Beam's INFO log
// lines, an account of every job, off stderr; InitBeam("info") before them
// shows them. A program whose workers run in other processes (Dataflow, or
// a job service's DOCKER or PROCESS environment) is started again as each
// worker, so it must call flag.Parse and beam.Init first thing in main, as
// every Beam program must (set beamlog.LogLevel = "warn" before to keep
// the INFO lines out); LOOPBACK workers, the in-process runners' kind, need
// nothing.
package pipeline
