// Package transforms holds the DPMR stages as Beam composite transforms,
// one file per stage: InitParameters, InvertDocuments,
// DistributeParameters, RestoreDocuments, ComputeGradients and
// UpdateParameters, plus Classify for prediction. The arithmetic inside
// them is model's, so the reference trainer is their oracle.
package transforms
