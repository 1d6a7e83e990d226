// Package model holds everything about sparse logistic regression that does
// not need Beam: the sample format and its parser, the objective and its
// gradient in numerically stable form, evaluation metrics, a synthetic data
// generator, and the in-memory reference trainer that every pipeline result
// is checked against.
package model
