package processor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestDriftReportedThenMigrated(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{})
	first := testproc.Start(t, nc, sim.URL(), processor.Config{Instance: "first"})
	first.Stop(t)

	name := processor.ConsumerName(subjects.Bulk, subjects.Row)
	until := time.Now().Add(time.Hour)
	if _, err := js.PauseConsumer(context.Background(), subjects.StreamRequests, name, until); err != nil {
		t.Fatalf("pause %s: %v", name, err)
	}
	maxDeliver := func() (int, bool) {
		cons, err := js.Consumer(context.Background(), subjects.StreamRequests, name)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		info, err := cons.Info(context.Background())
		if err != nil {
			t.Fatalf("info %s: %v", name, err)
		}
		return info.Config.MaxDeliver, info.Paused
	}

	logs := &testenv.LockedBuffer{}
	reported := processor.Config{Instance: "reported", MaxDeliver: 7, Logger: zerolog.New(logs)}
	testproc.Start(t, nc, sim.URL(), reported).Stop(t)
	if got, _ := maxDeliver(); got != processor.DefaultMaxDeliver {
		t.Errorf("max deliveries %d after a run without --migrate, want %d left as it was", got, processor.DefaultMaxDeliver)
	}
	if !strings.Contains(logs.String(), "run with --migrate") || !strings.Contains(logs.String(), "max deliveries 5, want 7") {
		t.Errorf("drift not reported in the log:\n%s", logs.String())
	}

	migrated := processor.Config{Instance: "migrated", MaxDeliver: 7, Migrate: true}
	testproc.Start(t, nc, sim.URL(), migrated).Stop(t)
	got, paused := maxDeliver()
	if got != 7 {
		t.Errorf("max deliveries %d after --migrate, want 7", got)
	}
	if !paused {
		t.Error("--migrate resumed a paused consumer")
	}
}
