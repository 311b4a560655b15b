package itest

import (
	"testing"
	"time"

	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
)

// TestGuarantees runs the guarantee suite without faults, against one
// NATS server and against a three-node cluster with three replicas of
// every stream and bucket.
func TestGuarantees(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
	}{
		{"single", 1},
		{"cluster", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := capped(t, 3*time.Minute)
			st := harness.Start(ctx, t, harness.Config{
				Nodes:      tc.nodes,
				Bridges:    2,
				BridgeArgs: append([]string{"--routine-poll-interval", "200ms"}, unlimitedBridge...),
				SimArgs:    append([]string{"--routine-delay", "300ms"}, unlimitedSim...),
			})
			suite.Run(ctx, t, st, suite.Workload{
				Name:     "guarantees-" + tc.name,
				Requests: size(1000, 20000),
				Mix:      suite.Mix{Rows: 12, Routines: 4, Searches: 3, Invalid: 1},
				Rate:     200,
			}, nil)
		})
	}
}
