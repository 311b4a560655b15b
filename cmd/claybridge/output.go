package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// progressEvery is the interval between progress lines when stderr is
// not a terminal.
const progressEvery = 2 * time.Second

// progress reports how far long work has come: a bar when w is a
// terminal, else a line every progressEvery, so short work prints
// nothing. A nil progress reports nothing.
type progress struct {
	w     io.Writer
	label string
	bar   *progressbar.ProgressBar
	last  time.Time
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, last: time.Now()}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// update reports done of total.
func (p *progress) update(done, total int) {
	if p == nil {
		return
	}
	if p.bar != nil {
		p.bar.ChangeMax(total)
		_ = p.bar.Set(done)
		return
	}
	if time.Since(p.last) >= progressEvery {
		fmt.Fprintf(p.w, "%s: %d of %d\n", p.label, done, total)
		p.last = time.Now()
	}
}

// scanned reports a stream scan, in the form scan.Config.Progress takes.
func (p *progress) scanned(read, left uint64) { p.update(int(read), int(read+left)) }

// finish removes the bar.
func (p *progress) finish() {
	if p != nil && p.bar != nil {
		_ = p.bar.Finish()
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sortedNames returns the header names of h, sorted.
func sortedNames(h map[string][]string) []string {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// nonNil returns s, or an empty slice when s is nil, so that JSON output
// is [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
