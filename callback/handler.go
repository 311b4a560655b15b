package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// DefaultMaxBodyBytes bounds a callback's body unless Config sets another
// bound. Clay takes rows of up to 100 KB; the margin is for the columns
// its enrichment adds.
const DefaultMaxBodyBytes = 512 << 10

// storeTimeout bounds the lookups and the publish behind one callback.
const storeTimeout = 10 * time.Second

// Outcomes of a callback, counted in claybridge_callbacks_received_total.
const (
	outcomeStored       = "stored"
	outcomeDuplicate    = "duplicate"
	outcomeUnauthorized = "unauthorized"
	outcomeUnknownKey   = "unknown_key"
	outcomeInvalid      = "invalid"
	outcomeFailed       = "failed"
)

// Config configures a Handler.
type Config struct {
	// JetStream stores callbacks in CLAY_CALLBACKS and reads CLAY_PENDING
	// and CLAY_LEDGER, which the processor creates.
	JetStream jetstream.JetStream
	// Secret is the key of the tokens; every replica needs the same one.
	Secret []byte
	// MaxBodyBytes bounds a callback's body, default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives a line per rejected or failed callback, default
	// zerolog.Nop().
	Logger zerolog.Logger
	// Registerer receives claybridge_callbacks_received_total, default a
	// new registry.
	Registerer prometheus.Registerer
}

// Handler serves POST /v1/callbacks/{key}. It responds with 200 only once
// the callback is stored, so any other status means nothing was stored.
type Handler struct {
	cfg      Config
	received *prometheus.CounterVec

	mu      sync.Mutex
	pending jetstream.KeyValue
	ledger  *ledger.Ledger
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a handler for cfg.
func NewHandler(cfg Config) (*Handler, error) {
	if len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("invalid callback secret: %d bytes, use %d or more", len(cfg.Secret), MinSecretBytes)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	h := &Handler{cfg: cfg, received: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claybridge_callbacks_received_total",
		Help: "Callbacks Clay posted, by outcome: stored, duplicate, unauthorized (bad or missing token), " +
			"unknown_key, invalid (body too large or not JSON) or failed (not stored, Clay retries).",
	}, []string{"outcome"})}
	for _, o := range []string{outcomeStored, outcomeDuplicate, outcomeUnauthorized, outcomeUnknownKey, outcomeInvalid, outcomeFailed} {
		h.received.WithLabelValues(o).Add(0)
	}
	if err := cfg.Registerer.Register(h.received); err != nil {
		return nil, fmt.Errorf("register callback metrics: %w", err)
	}
	return h, nil
}

// ServeHTTP checks the token, the body and the key, then stores the
// callback.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := requestKey(r)
	if !ok {
		h.reply(w, http.StatusNotFound, outcomeInvalid, "no callback endpoint at this path: use "+subjects.CallbackPath+"<key>")
		return
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reply(w, http.StatusMethodNotAllowed, outcomeInvalid, "use POST")
		return
	}
	if !ValidToken(h.cfg.Secret, key, r.Header.Get(subjects.HeaderCallbackToken)) {
		h.cfg.Logger.Warn().Str("key", key).Str("remote", r.RemoteAddr).Msg("callback rejected: missing or invalid token")
		h.reply(w, http.StatusUnauthorized, outcomeUnauthorized, "missing or invalid "+subjects.HeaderCallbackToken+" header")
		return
	}
	body, status, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		h.cfg.Logger.Warn().Err(err).Str("key", key).Msg("callback rejected: invalid body")
		h.reply(w, status, outcomeInvalid, err.Error())
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	status, outcome, err := h.store(ctx, key, body)
	if err != nil {
		h.cfg.Logger.Warn().Err(err).Str("key", key).Str("outcome", outcome).Msg("callback not stored")
		h.reply(w, status, outcome, err.Error())
		return
	}
	h.cfg.Logger.Debug().Str("key", key).Str("outcome", outcome).Msg("callback received")
	h.reply(w, status, outcome, outcome)
}

// requestKey returns the unescaped key in the request's path.
func requestKey(r *http.Request) (string, bool) {
	raw, found := strings.CutPrefix(r.URL.EscapedPath(), subjects.CallbackPath)
	if !found || raw == "" || strings.Contains(raw, "/") {
		return "", false
	}
	key, err := url.PathUnescape(raw)
	return key, err == nil && key != ""
}

// readBody reads a JSON body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body over the limit of %d bytes", limit)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %v", err)
	case !json.Valid(body):
		return nil, http.StatusBadRequest, errors.New("body is not valid JSON: send the row as a JSON object")
	}
	return body, http.StatusOK, nil
}

// store keeps the callback of a key that is awaited, or that was sent and
// whose pending record is still being written. A key that is done
// already answers 200 without a second copy.
func (h *Handler) store(ctx context.Context, key string, body []byte) (int, string, error) {
	awaited, err := h.awaited(ctx, key)
	if err != nil {
		return http.StatusServiceUnavailable, outcomeFailed, err
	}
	switch awaited {
	case keyDone:
		return http.StatusOK, outcomeDuplicate, nil
	case keyUnknown:
		return http.StatusNotFound, outcomeUnknownKey, errors.New("no request awaits a callback for this key")
	}
	msg := nats.NewMsg(subjects.CallbackSubject(key))
	msg.Header.Set(subjects.HeaderMsgID, subjects.HashKey(key))
	msg.Header.Set(subjects.HeaderRequestKey, key)
	msg.Data = body
	ack, err := h.cfg.JetStream.PublishMsg(ctx, msg)
	if errors.Is(err, nats.ErrMaxPayload) {
		return http.StatusRequestEntityTooLarge, outcomeInvalid, fmt.Errorf("body of %d bytes does not fit in one NATS message", len(body))
	}
	if err != nil {
		return http.StatusServiceUnavailable, outcomeFailed, fmt.Errorf("store callback in %s: %w", subjects.StreamCallbacks, err)
	}
	if ack.Duplicate {
		return http.StatusOK, outcomeDuplicate, nil
	}
	return http.StatusOK, outcomeStored, nil
}

// What the buckets know of a key.
type keyState int

const (
	keyUnknown keyState = iota
	keyAwaited
	keyDone
)

// awaited looks the key up in CLAY_PENDING, then in the ledger.
func (h *Handler) awaited(ctx context.Context, key string) (keyState, error) {
	pending, book, err := h.buckets(ctx)
	if err != nil {
		return keyUnknown, err
	}
	_, err = pending.Get(ctx, subjects.PendingKey(key))
	if err == nil {
		return keyAwaited, nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return keyUnknown, fmt.Errorf("read %s: %w", subjects.BucketPending, err)
	}
	rec, _, err := book.Get(ctx, key)
	switch {
	case err != nil:
		return keyUnknown, err
	case rec == nil:
		return keyUnknown, nil
	case rec.State == ledger.Done:
		return keyDone, nil
	}
	// Sent, and the pending record is about to be written: Clay called
	// back before the processor finished storing the submission.
	return keyAwaited, nil
}

// buckets opens CLAY_PENDING and the ledger on first use, because the
// processor creates them after the listener starts.
func (h *Handler) buckets(ctx context.Context) (jetstream.KeyValue, *ledger.Ledger, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending != nil {
		return h.pending, h.ledger, nil
	}
	pending, err := h.cfg.JetStream.KeyValue(ctx, subjects.BucketPending)
	if err != nil {
		return nil, nil, fmt.Errorf("open bucket %s: %w", subjects.BucketPending, err)
	}
	book, err := ledger.Open(ctx, h.cfg.JetStream, ledger.Config{})
	if err != nil {
		return nil, nil, err
	}
	h.pending, h.ledger = pending, book
	return pending, book, nil
}

// reply writes a small JSON answer and counts the outcome.
func (h *Handler) reply(w http.ResponseWriter, status int, outcome, message string) {
	h.received.WithLabelValues(outcome).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}
