package processor_test

import (
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/processor"
)

func TestDebugRowSizes(t *testing.T) {
	s, _ := newCallbackStack(t, claysim.Config{CallbackDelay: 200 * time.Millisecond}, processor.Config{})
	keys := enrichRows(t, s, "batched", 100)
	s.await(t, keys, time.Minute)
	var sizes []int
	var last time.Time
	for _, a := range arrivals(s.sim, claysim.OpRow) {
		if !a.Time.Equal(last) {
			sizes = append(sizes, 0)
			last = a.Time
		}
		sizes[len(sizes)-1]++
	}
	t.Logf("sizes %v", sizes)
}
