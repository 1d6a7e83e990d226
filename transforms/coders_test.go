package transforms

import (
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

func TestCodersRoundTrip(t *testing.T) {
	k := FeatureKey{Name: "a:b#é", Shard: 3}
	gotK, err := DecodeFeatureKey(encodeFeatureKey(k))
	require.NoError(t, err)
	require.Equal(t, k, gotK)
	p := Postings{Block: 1<<40 | 7, Rows: []int32{0, 5, 9}, Vals: []float64{1e-320, -2.5, 1e308}}
	gotP, err := DecodePostings(encodePostings(p))
	require.NoError(t, err)
	require.Equal(t, p, gotP)
	r := model.Row{W: 0.1, G: -3, D: 1e-300, H: 2, S: []float64{1, 2}, Y: []float64{3, 4}}
	gotR, err := DecodeRow(encodeRow(r))
	require.NoError(t, err)
	require.Equal(t, r, gotR)
	_, err = DecodePostings(encodePostings(p)[:5])
	require.ErrorIs(t, err, ErrMalformed)
}

// FuzzDecode feeds arbitrary bytes to every snapshot record decoder: they
// must fail cleanly (never panic, never allocate beyond the input), and
// whatever decodes must re-encode to a canonical form that round-trips
// byte for byte. (Varints may be spelt non-minimally in the input, and NaN
// payloads make value comparison useless, so bytes are compared.)
func FuzzDecode(f *testing.F) {
	f.Add(encodePostings(Postings{Block: 3, Rows: []int32{1, 2}, Vals: []float64{1, 2}}))
	f.Add(encodeRow(model.Row{W: 1, S: []float64{2}, Y: []float64{3}}))
	f.Add(encodeFeatureKey(FeatureKey{Name: "x", Shard: 2}))
	f.Add(encodeLabelBlock(LabelBlock{File: 1, Lines: []int64{4}, Labels: []float64{1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodePostings(b); err == nil {
			canonical := encodePostings(p)
			again, err := DecodePostings(canonical)
			require.NoError(t, err)
			require.Equal(t, canonical, encodePostings(again))
		}
		if r, err := DecodeRow(b); err == nil {
			canonical := encodeRow(r)
			again, err := DecodeRow(canonical)
			require.NoError(t, err)
			require.Equal(t, canonical, encodeRow(again))
		}
		if k, err := DecodeFeatureKey(b); err == nil {
			canonical := encodeFeatureKey(k)
			again, err := DecodeFeatureKey(canonical)
			require.NoError(t, err)
			require.Equal(t, canonical, encodeFeatureKey(again))
		}
		if lb, err := DecodeLabelBlock(b); err == nil {
			canonical := encodeLabelBlock(lb)
			again, err := DecodeLabelBlock(canonical)
			require.NoError(t, err)
			require.Equal(t, canonical, encodeLabelBlock(again))
		}
		if pb, err := DecodePredictionBlock(b); err == nil {
			canonical := encodePredictionBlock(pb)
			again, err := DecodePredictionBlock(canonical)
			require.NoError(t, err)
			require.Equal(t, canonical, encodePredictionBlock(again))
		}
	})
}
