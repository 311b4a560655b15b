package claysim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Limits of callback delivery.
const (
	// callbackAttemptTimeout bounds one callback attempt, from dialling
	// to the end of the response body.
	callbackAttemptTimeout = 10 * time.Second
	// callbackDialTimeout bounds connecting to the receiver.
	callbackDialTimeout = 5 * time.Second
	// maxCallbackBackoff caps the doubling wait between callback retries.
	maxCallbackBackoff = 10 * time.Second
	// maxCallbackResponseBytes bounds how much of a receiver's response
	// body is read before the connection is reused.
	maxCallbackResponseBytes = 64 << 10
)

// errCallbackStatus marks a callback attempt whose response status is
// outside 2xx.
var errCallbackStatus = errors.New("callback receiver responded with a non-2xx status")

// callbackPlan is the delivery settings of one accepted row's callbacks,
// copied from the settings when the row was accepted.
type callbackPlan struct {
	mode    string
	delay   time.Duration
	retries int
	backoff time.Duration
}

func newCallbackPlan(cfg Config) callbackPlan {
	plan := callbackPlan{
		mode:    cfg.CallbackMode,
		delay:   cfg.CallbackDelay,
		retries: cfg.CallbackRetries,
		backoff: cfg.CallbackRetryBackoff,
	}
	if cfg.CallbackMode == CallbackLate {
		plan.delay = cfg.CallbackLateDelay
	}
	return plan
}

// callbackSender posts callbacks from goroutines that close cancels and
// waits for.
type callbackSender struct {
	client *http.Client
	stats  *statsRecorder
	log    zerolog.Logger

	// lifetime is the context of every callback goroutine. stop ends it,
	// which cancels pending delays and in-flight requests.
	lifetime context.Context
	stop     context.CancelFunc

	// mu guards closed, so that no goroutine joins running after close
	// has started to wait.
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

func newCallbackSender(stats *statsRecorder, log zerolog.Logger) *callbackSender {
	dialer := &net.Dialer{Timeout: callbackDialTimeout, Control: dialLoopbackOnly}
	transport := &http.Transport{
		// A proxy from the environment would carry callbacks to another
		// host, so the sender never uses one.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: callbackDialTimeout,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}
	lifetime, stop := context.WithCancel(context.Background())
	return &callbackSender{
		client: &http.Client{
			Transport: transport,
			Timeout:   callbackAttemptTimeout,
			// A redirect counts as a failed attempt, like any other
			// non-2xx status.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		stats:    stats,
		log:      log,
		lifetime: lifetime,
		stop:     stop,
	}
}

// schedule starts sending cb in the background. It returns false, and
// sends nothing, once close has been called.
func (cs *callbackSender) schedule(cb callback, plan callbackPlan) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.running.Add(1)
	go cs.run(cb, plan)
	return true
}

// close cancels every pending and in-flight callback and waits until
// their goroutines have returned. Later calls return at once.
func (cs *callbackSender) close() {
	cs.mu.Lock()
	cs.closed = true
	cs.mu.Unlock()
	cs.stop()
	cs.running.Wait()
	cs.client.CloseIdleConnections()
}

func (cs *callbackSender) run(cb callback, plan callbackPlan) {
	defer cs.running.Done()
	ctx := cs.lifetime
	if err := sleepContext(ctx, plan.delay); err != nil {
		cs.log.Debug().Str("key", cb.key).Msg("callback cancelled before its first attempt")
		return
	}
	copies := 1
	if plan.mode == CallbackDuplicate {
		copies = 2
	}
	for range copies {
		if !cs.deliver(ctx, cb, plan) {
			return
		}
	}
}

// deliver sends cb until the receiver responds with a 2xx status or
// plan.retries retries have failed, and counts the outcome. It returns
// false when ctx ended first, which counts as neither sent nor failed.
func (cs *callbackSender) deliver(ctx context.Context, cb callback, plan callbackPlan) bool {
	backoff := plan.backoff
	for attempt := 1; ; attempt++ {
		token := cb.token
		if plan.mode == CallbackErrorThenRetry && attempt == 1 {
			token = "invalid-" + cb.token
		}
		err := cs.post(ctx, cb, token)
		if ctx.Err() != nil {
			cs.log.Debug().Str("key", cb.key).Int("attempt", attempt).Msg("callback cancelled")
			return false
		}
		if err == nil {
			cs.stats.countCallbackSent()
			cs.log.Debug().Str("key", cb.key).Int("attempt", attempt).Msg("callback sent")
			return true
		}
		if attempt > plan.retries {
			cs.stats.countCallbackFailed()
			cs.log.Warn().Err(err).Str("key", cb.key).Int("attempt", attempt).Msg("callback failed, no retries left")
			return true
		}
		cs.log.Warn().Err(err).Str("key", cb.key).Int("attempt", attempt).Dur("backoff", backoff).
			Msg("callback attempt failed, retrying")
		if err := sleepContext(ctx, backoff); err != nil {
			return false
		}
		backoff = min(backoff*2, maxCallbackBackoff)
	}
}

// post sends one callback attempt with token in the token header.
func (cs *callbackSender) post(ctx context.Context, cb callback, token string) error {
	cs.stats.countCallbackAttempt(cb.key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.url, bytes.NewReader(cb.body))
	if err != nil {
		return fmt.Errorf("failed to build callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(callbackTokenHeader, token)
	resp, err := cs.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The body only matters for connection reuse, so a read error changes
	// nothing.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCallbackResponseBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %d", errCallbackStatus, resp.StatusCode)
	}
	return nil
}

// startCallbacks schedules the callbacks of accepted rows under the
// settings in cfg. A row whose callback URL the simulator rejects counts
// in Stats.CallbacksRefused and is never dialled.
func (s *Server) startCallbacks(rows []map[string]any, cfg Config) {
	plan := newCallbackPlan(cfg)
	for _, row := range rows {
		cb, ok, err := rowCallback(row)
		if !ok {
			continue
		}
		if err != nil {
			s.stats.countCallbackRefused()
			key, _ := row[rowKeyField].(string)
			s.log.Warn().Err(err).Str("key", key).Msg("callback URL rejected")
			continue
		}
		if plan.mode == CallbackNone {
			s.log.Debug().Str("key", cb.key).Msg("callback skipped in mode none")
			continue
		}
		if !s.callbacks.schedule(cb, plan) {
			s.log.Debug().Str("key", cb.key).Msg("callback dropped because the simulator is closed")
		}
	}
}
