package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// writeRejects turns the rejects dataset (JSON records) into a readable
// list sorted by file and line: "file:line:column: reason<TAB>the line
// (quoted, cut at 4 KiB)".
func writeRejects(ctx context.Context, files []ShardFile, path string) error {
	var all []Reject
	err := eachRecord(ctx, files, func(rec []byte) error {
		var r Reject
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("%w: rejects: %v", ErrCorrupt, err)
		}
		all = append(all, r)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Path != all[j].Path {
			return all[i].Path < all[j].Path
		}
		return all[i].Line < all[j].Line
	})
	var buf bytes.Buffer
	for _, r := range all {
		fmt.Fprintf(&buf, "%s\t%q\n", r.Message, r.Text)
	}
	return writeFile(ctx, path, buf.Bytes())
}
