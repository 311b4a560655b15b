package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/subjects"
)

// The bare consumer's streams and subjects. The request stream is a work
// queue like CLAY_REQUESTS, which accepts no second consumer, so the
// baseline runs on streams of its own.
const (
	baselineRequestStream  = benchStreamPrefix + "REQUESTS"
	baselineResultStream   = benchStreamPrefix + "RESULTS"
	baselineConsumeStream  = benchStreamPrefix + "CONSUME"
	baselineRequestSubject = "bench.request"
	baselineResultSubject  = "bench.result"
	baselineConsumeSubject = "bench.consume"
	baselineConsumer       = "bench"
)

// createBaselineStreams creates the bare consumer's streams and its
// durable consumer with the settings claybridge gives its own.
func createBaselineStreams(ctx context.Context, js jetstream.JetStream) error {
	streams := []jetstream.StreamConfig{
		{Name: baselineRequestStream, Subjects: []string{baselineRequestSubject}, Retention: jetstream.WorkQueuePolicy,
			Discard: jetstream.DiscardNew, Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage},
		{Name: baselineResultStream, Subjects: []string{baselineResultSubject}, Retention: jetstream.LimitsPolicy,
			Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage},
	}
	for _, cfg := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
	}
	_, err := js.CreateOrUpdateConsumer(ctx, baselineRequestStream, jetstream.ConsumerConfig{
		Durable:       baselineConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    5,
		MaxAckPending: 1000,
	})
	if err != nil {
		return fmt.Errorf("create consumer on %s: %w", baselineRequestStream, err)
	}
	return nil
}

// bareConsumer is the consumer a program without claybridge would run.
// It fetches a request, POSTs it to Clay, publishes the result and
// acknowledges, with a bounded number of requests in flight.
type bareConsumer struct {
	js      jetstream.JetStream
	http    *http.Client
	simURL  string
	apiKey  string
	workers int
}

func newBareConsumer(js jetstream.JetStream, sim *simulator, apiKey string, workers int) *bareConsumer {
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second}
	return &bareConsumer{js: js, http: &http.Client{Transport: transport, Timeout: 30 * time.Second},
		simURL: sim.url, apiKey: apiKey, workers: workers}
}

// run consumes until ctx ends, then waits for the requests in flight.
func (c *bareConsumer) run(ctx context.Context, cons jetstream.Consumer) error {
	iter, err := cons.Messages(jetstream.PullMaxMessages(c.workers))
	if err != nil {
		return fmt.Errorf("consume %s: %w", baselineRequestStream, err)
	}
	stop := context.AfterFunc(ctx, iter.Stop)
	defer stop()
	slots := make(chan struct{}, c.workers)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		msg, err := iter.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("next message of %s: %w", baselineRequestStream, err)
		}
		slots <- struct{}{}
		inflight.Go(func() {
			defer func() { <-slots }()
			c.handle(ctx, msg)
		})
	}
}

// bareResult is the bare consumer's result body; it carries the fields
// the watcher reads.
type bareResult struct {
	Key           string          `json:"key"`
	Status        string          `json:"status"`
	ClayLatencyMS int64           `json:"clay_latency_ms"`
	Data          json.RawMessage `json:"data"`
}

func (c *bareConsumer) handle(ctx context.Context, msg jetstream.Msg) {
	key := msg.Headers().Get(subjects.HeaderMsgID)
	start := time.Now()
	data, err := c.search(ctx, key, msg.Data())
	if err != nil {
		_ = msg.Nak()
		return
	}
	body, _ := json.Marshal(bareResult{Key: key, Status: subjects.StatusOK,
		ClayLatencyMS: time.Since(start).Milliseconds(), Data: data})
	out := nats.NewMsg(baselineResultSubject)
	out.Header.Set(subjects.HeaderMsgID, key)
	out.Header.Set(subjects.HeaderRequestKey, key)
	out.Data = body
	if _, err := c.js.PublishMsg(ctx, out); err != nil {
		_ = msg.Nak()
		return
	}
	_ = msg.Ack()
}

// search sends a search request body to the simulator's Public API.
func (c *bareConsumer) search(ctx context.Context, key string, body []byte) ([]byte, error) {
	var params subjects.SearchParams
	if err := json.Unmarshal(body, &params); err != nil {
		return nil, err
	}
	query, err := json.Marshal(clay.SearchQuery{Filters: params.Filters, Limit: params.Limit})
	if err != nil {
		return nil, err
	}
	url := c.simURL + clay.PublicAPIPath + "/search/" + params.SourceType
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(query))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(clay.HeaderAPIKey, c.apiKey)
	req.Header.Set(clay.HeaderRequestKey, key)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("search returned %s", resp.Status)
	}
	return data, nil
}

// consumeRate returns the messages per second one consumer fetches and
// acknowledges from a work-queue stream holding n messages of body.
func consumeRate(ctx context.Context, js jetstream.JetStream, n int, body []byte) (float64, error) {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: baselineConsumeStream,
		Subjects: []string{baselineConsumeSubject}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, fmt.Errorf("create stream %s: %w", baselineConsumeStream, err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), baselineConsumeStream) }()
	err = publishBacklog(ctx, js, n, func(int) *nats.Msg {
		return &nats.Msg{Subject: baselineConsumeSubject, Data: body}
	})
	if err != nil {
		return 0, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, baselineConsumeStream, jetstream.ConsumerConfig{
		Durable: baselineConsumer, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000})
	if err != nil {
		return 0, fmt.Errorf("create consumer on %s: %w", baselineConsumeStream, err)
	}
	return drainAcked(ctx, cons, n)
}

// drainAcked fetches and acknowledges n messages and returns the rate.
// The last acknowledgement waits for the server's reply, which comes
// after every earlier one on the connection was applied.
func drainAcked(ctx context.Context, cons jetstream.Consumer, n int) (float64, error) {
	iter, err := cons.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		return 0, err
	}
	defer iter.Stop()
	stop := context.AfterFunc(ctx, iter.Stop)
	defer stop()
	start := time.Now()
	for i := range n {
		msg, err := iter.Next()
		if err != nil {
			return 0, fmt.Errorf("message %d of %d: %w", i+1, n, err)
		}
		if i < n-1 {
			err = msg.Ack()
		} else {
			err = msg.DoubleAck(ctx)
		}
		if err != nil {
			return 0, fmt.Errorf("ack message %d: %w", i+1, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
