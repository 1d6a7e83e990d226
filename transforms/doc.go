// Package transforms holds the DPMR stages as Beam composite transforms,
// one file per stage: InitParameters, InvertDocuments,
// DistributeParameters (with AssignRowIDs, its setup-time half, which
// resolves the index's feature names to row ids once), RestoreDocuments,
// ComputeGradients and UpdateParameters, plus Classify for prediction.
// The arithmetic inside them is model's, so the reference trainer is
// their oracle.
package transforms
