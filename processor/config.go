package processor

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/callback"
	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// Table maps a configured table name to its Clay webhook source.
type Table struct {
	// Webhook is the source's URL and token.
	Webhook clay.Webhook
	// ResendUnknown lets a row whose outcome is unknown be sent again,
	// which is safe when the table auto-dedupes on claybridge_key.
	ResendUnknown bool
	// Callback marks a table whose HTTP API column posts each enriched
	// row back: its rows carry a callback URL and token, and a row's
	// result is the posted row, awaited up to LongPollTimeout.
	Callback bool
}

// Hooks change the processor's behaviour for tests only.
type Hooks struct {
	// DisableInProgress stops InProgress signals and lease renewals, so
	// JetStream redelivers a message whose call outlasts the ack wait.
	DisableInProgress bool
	// BeforeCall runs after a key is claimed and before Clay is called.
	BeforeCall func(key string)
	// AfterPublish runs after a result is published and before the
	// message is acknowledged.
	AfterPublish func(key string)
	// BeforeAwait runs after Clay accepted a request whose outcome comes
	// later, and before its pending record is stored.
	BeforeAwait func(key string)
}

// Config configures a Processor. Zero fields take the defaults listed.
type Config struct {
	// Instance names this process in heartbeats and the ledger, default
	// NewInstanceID().
	Instance string
	// Logger receives lifecycle and per-message logs, default zerolog.Nop().
	Logger zerolog.Logger
	// Registerer receives the processor's metrics, default a new registry.
	Registerer prometheus.Registerer

	// Workers is the worker pool size per priority, default critical 10,
	// normal 5, bulk 2.
	Workers map[subjects.Priority]int
	// AckWait is the consumers' ack wait, default 30 s.
	AckWait time.Duration
	// MaxDeliver is the consumers' maximum deliveries per message, default 5.
	MaxDeliver int
	// Replicas is the replica count of every stream and bucket, default 1.
	Replicas int
	// DuplicateWindow is the request stream's Nats-Msg-Id dedupe window,
	// default 2 min.
	DuplicateWindow time.Duration

	// RateLimit is the webhook budget in records per second for the
	// workspace, default 10; a negative value means no limit.
	RateLimit float64
	// Burst is the webhook budget's burst in records, default 20.
	Burst int

	// RequestTimeout bounds one Clay HTTP call, default 30 s.
	RequestTimeout time.Duration
	// UploadTimeout bounds one push of rows to a webhook source, default
	// 120 s.
	UploadTimeout time.Duration
	// LongPollTimeout bounds waiting for a routine run or a row's
	// callback, default 300 s.
	LongPollTimeout time.Duration
	// RoutinePollInterval is the wait between polls of a routine run,
	// default 1 s.
	RoutinePollInterval time.Duration
	// BatchLinger is how long a batch of rows for one table, or of items
	// for one routine, waits for more requests before it is sent, default
	// 50 ms. A full batch, or one a critical request joins, is sent at
	// once.
	BatchLinger time.Duration
	// PendingCheckInterval is the wait between checks of awaited
	// callbacks for ones past their deadline, default 5 s.
	PendingCheckInterval time.Duration
	// RetryBase and RetryMax bound the delay before a retry, default 1 s
	// and 60 s.
	RetryBase time.Duration
	RetryMax  time.Duration

	// HeartbeatInterval is the wait between heartbeats, default 5 s.
	HeartbeatInterval time.Duration

	// BreakerFailures opens a surface's breaker after that many unhealthy
	// outcomes in a row, default 5.
	BreakerFailures int
	// BreakerSuccesses closes a half-open breaker after that many
	// successful probes, default 2.
	BreakerSuccesses int
	// BreakerOpenTimeout is how long a breaker stays open before it lets
	// a probe through, default 10 s.
	BreakerOpenTimeout time.Duration
	// ProbeInterval is the wait between probes of a hold (401, 402),
	// default 10 s.
	ProbeInterval time.Duration
	// MaxParked bounds the messages parked while holds last; fetching
	// stops at the bound, default 1000.
	MaxParked int
	// RetryAfterMin and RetryAfterMax clamp Clay's Retry-After, default
	// 1 s and 5 min.
	RetryAfterMin time.Duration
	RetryAfterMax time.Duration
	// RateLimitPause is the pause after a 429 without Retry-After,
	// default 5 s.
	RateLimitPause time.Duration
	// GuaranteedShare gives a priority with backlog at least one token in
	// that many, default 10.
	GuaranteedShare int
	// CacheDisabled turns the fallback cache off.
	CacheDisabled bool
	// Cache configures the fallback cache: memory budget, staleness
	// thresholds and the staleness each priority may be served.
	Cache fallback.Config
	// CacheFirst lists the operations a fresh cache entry answers without
	// calling Clay. Nil means search only; rows are never answered from
	// the cache.
	CacheFirst map[subjects.Operation]bool

	// WebhookCap is the lifetime submissions of one webhook source,
	// default 50,000; WebhookWarnRatio the share of it at which the
	// heartbeat turns degraded, default 0.9.
	WebhookCap       int64
	WebhookWarnRatio float64

	// Migrate applies differences between existing streams, consumers
	// and buckets and claybridge's settings; without it they are only
	// reported. A paused consumer stays paused either way.
	Migrate bool

	// SweepInterval is the wait between sweeps for messages JetStream
	// stopped delivering, default 30 s.
	SweepInterval time.Duration

	// Lease is how long a claim on a key lasts unless renewed, default
	// 30 s.
	Lease time.Duration
	// Hooks are for tests.
	Hooks Hooks

	// HasAPIKey tells that holds of the Public API may be probed with
	// GET /me.
	HasAPIKey bool

	// Tables maps configured table names to webhook sources.
	Tables map[string]Table
	// CallbackURL is the public base URL of the callback listeners, which
	// must reach every replica; a row of a callback table carries
	// CallbackURL/v1/callbacks/<escaped key>. Required when a table calls
	// back.
	CallbackURL string
	// CallbackSecret signs each row's callback token (HMAC-SHA256 of the
	// request key); every replica needs the same one. Required, of at
	// least 16 bytes, when a table calls back.
	CallbackSecret []byte

	// DefaultWebhookBase, when set, maps a table that is not configured to
	// the webhook source "pull-in-data-from-a-webhook-<table>" on this
	// base URL (the simulator's or --clay-url's). When empty, an unknown
	// table is an invalid request.
	DefaultWebhookBase string
}

// Default values.
const (
	DefaultAckWait              = 30 * time.Second
	DefaultMaxDeliver           = 5
	DefaultDuplicateWindow      = 2 * time.Minute
	DefaultRateLimit            = 10
	DefaultBurst                = 20
	DefaultRequestTimeout       = 30 * time.Second
	DefaultUploadTimeout        = 120 * time.Second
	DefaultLongPollTimeout      = 300 * time.Second
	DefaultRoutinePollInterval  = time.Second
	DefaultBatchLinger          = 50 * time.Millisecond
	DefaultPendingCheckInterval = 5 * time.Second
	DefaultRetryBase            = time.Second
	DefaultRetryMax             = time.Minute
	DefaultHeartbeatInterval    = 5 * time.Second
	DefaultBreakerFailures      = 5
	DefaultBreakerSuccesses     = 2
	DefaultBreakerOpenTimeout   = 10 * time.Second
	DefaultProbeInterval        = 10 * time.Second
	DefaultMaxParked            = 1000
	DefaultRetryAfterMin        = time.Second
	DefaultRetryAfterMax        = 5 * time.Minute
	DefaultRateLimitPause       = 5 * time.Second
	DefaultGuaranteedShare      = 10
)

// DefaultWorkers returns the default pool size per priority.
func DefaultWorkers() map[subjects.Priority]int {
	return map[subjects.Priority]int{subjects.Critical: 10, subjects.Normal: 5, subjects.Bulk: 2}
}

func (c *Config) setDefaults() {
	if c.Instance == "" {
		c.Instance = NewInstanceID()
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	workers := DefaultWorkers()
	for p, n := range c.Workers {
		workers[p] = n
	}
	c.Workers = workers
	setDefault(&c.AckWait, DefaultAckWait)
	setDefault(&c.MaxDeliver, DefaultMaxDeliver)
	setDefault(&c.Replicas, 1)
	setDefault(&c.DuplicateWindow, DefaultDuplicateWindow)
	setDefault(&c.RateLimit, DefaultRateLimit)
	setDefault(&c.Burst, DefaultBurst)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	setDefault(&c.UploadTimeout, DefaultUploadTimeout)
	setDefault(&c.LongPollTimeout, DefaultLongPollTimeout)
	setDefault(&c.RoutinePollInterval, DefaultRoutinePollInterval)
	setDefault(&c.BatchLinger, DefaultBatchLinger)
	setDefault(&c.PendingCheckInterval, DefaultPendingCheckInterval)
	setDefault(&c.RetryBase, DefaultRetryBase)
	setDefault(&c.RetryMax, DefaultRetryMax)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.BreakerFailures, DefaultBreakerFailures)
	setDefault(&c.BreakerSuccesses, DefaultBreakerSuccesses)
	setDefault(&c.BreakerOpenTimeout, DefaultBreakerOpenTimeout)
	setDefault(&c.ProbeInterval, DefaultProbeInterval)
	setDefault(&c.MaxParked, DefaultMaxParked)
	setDefault(&c.RetryAfterMin, DefaultRetryAfterMin)
	setDefault(&c.RetryAfterMax, DefaultRetryAfterMax)
	setDefault(&c.RateLimitPause, DefaultRateLimitPause)
	setDefault(&c.GuaranteedShare, DefaultGuaranteedShare)
	setDefault(&c.Lease, ledger.DefaultLease)
	setDefault(&c.SweepInterval, DefaultSweepInterval)
	setDefault(&c.WebhookCap, DefaultWebhookCap)
	setDefault(&c.WebhookWarnRatio, DefaultWebhookWarnRatio)
	if c.CacheFirst == nil {
		c.CacheFirst = map[subjects.Operation]bool{subjects.Search: true}
	}
	delete(c.CacheFirst, subjects.Row)
}

func (c *Config) validate() error {
	for _, p := range subjects.Priorities {
		if c.Workers[p] < 1 {
			return fmt.Errorf("invalid worker count %d for priority %s: use 1 or more", c.Workers[p], p)
		}
	}
	if c.MaxDeliver < 1 {
		return fmt.Errorf("invalid max deliveries %d: use 1 or more", c.MaxDeliver)
	}
	if c.Replicas != 1 && c.Replicas != 3 {
		return fmt.Errorf("invalid replica count %d: use 1 or 3", c.Replicas)
	}
	if worst := c.AckWait*time.Duration(c.MaxDeliver) + c.RetryMax*time.Duration(c.MaxDeliver); worst >= LedgerTTL {
		return fmt.Errorf("invalid ack wait %s and max deliveries %d: with retries up to %s a request may outlive the ledger's %s", c.AckWait, c.MaxDeliver, c.RetryMax, LedgerTTL)
	}
	if c.RetryBase < time.Second {
		return fmt.Errorf("invalid retry base %s: use 1s or more", c.RetryBase)
	}
	if c.LongPollTimeout >= PendingTTL {
		return fmt.Errorf("invalid long poll timeout %s: awaited requests are kept for %s, use less", c.LongPollTimeout, PendingTTL)
	}
	return c.validateCallbacks()
}

type number interface {
	~int | ~int64 | ~float64
}

func setDefault[T number](field *T, value T) {
	if *field == 0 {
		*field = value
	}
}

// validateCallbacks checks that a table that calls back has a URL to call
// and a secret to sign its tokens with.
func (c *Config) validateCallbacks() error {
	for name, t := range c.Tables {
		if !t.Callback {
			continue
		}
		if c.CallbackURL == "" {
			return fmt.Errorf("missing callback URL for table %s: set the public URL of the callback listeners", name)
		}
		if len(c.CallbackSecret) < callback.MinSecretBytes {
			return fmt.Errorf("invalid callback secret for table %s: %d bytes, use %d or more", name, len(c.CallbackSecret), callback.MinSecretBytes)
		}
	}
	return nil
}
