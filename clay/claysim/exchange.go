package claysim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxPublicBodyBytes bounds public API request bodies. Clay documents no
// such limit, and 1 MiB fits 100 routine items of about 10 KB each.
const maxPublicBodyBytes = 1 << 20

// errServerStopping is the cancellation cause of request contexts when a
// Running simulator shuts down, so that shutdown is not counted as a
// client disconnect.
var errServerStopping = errors.New("claysim: server stopping")

// errBodyTooLarge marks a request body over the size limit.
var errBodyTooLarge = errors.New("request body too large")

// exchange is one Clay request on its way through the simulator.
type exchange struct {
	op      string
	start   time.Time
	body    []byte
	bodyErr error
	// keys are the request keys of the rows, items or search, as counted
	// in Stats.SubmissionsByKey.
	keys []string
	// publicLimit is the request's outcome under the Public API rate
	// limit, or nil when the limit did not apply.
	publicLimit *publicAdmission
}

// reply is a response that finish writes and records.
type reply struct {
	status      int
	contentType string
	body        []byte
	header      http.Header
	// rowsAccepted counts webhook rows that this response accepts.
	rowsAccepted int
}

// begin counts a Clay request of operation op and reads its body, up to
// maxBody bytes when maxBody is positive.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, op string, maxBody int64) *exchange {
	ex := &exchange{op: op, start: time.Now()}
	s.stats.countRequest(op)

	reader := io.Reader(r.Body)
	if maxBody > 0 {
		reader = http.MaxBytesReader(w, r.Body, maxBody)
	}
	body, err := io.ReadAll(reader)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		ex.bodyErr = fmt.Errorf("%w: the limit is %d bytes", errBodyTooLarge, tooLarge.Limit)
	case err != nil:
		ex.bodyErr = fmt.Errorf("failed to read request body: %w", err)
	}
	ex.body = body
	return ex
}

// await applies the Public API rate limit, the configured latency and the
// active faults to ex. It returns false when it has already ended the
// exchange: the client went away, the server is stopping, the request is
// over the rate limit, or a fault supplied the response. The rate limit
// applies first, so a request over it uses up no fault count and gets its
// 429 after the configured latency alone.
func (s *Server) await(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	cfg := s.config()
	admitted := s.admitPublic(ex, cfg)
	var effect faultEffect
	if admitted {
		effect = s.faults.take(ex.op, time.Now())
	}
	delay := cfg.Latency + cfg.LatencyByOperation[ex.op] + effect.latency

	if err := sleepContext(r.Context(), delay); err != nil {
		if errors.Is(context.Cause(r.Context()), errServerStopping) {
			s.finish(w, ex, errorReply(http.StatusServiceUnavailable, "the simulator is shutting down"))
			return false
		}
		s.stats.recordOutcome(ex, StatusClientClosedRequest, 0)
		s.log.Debug().Str("operation", ex.op).Strs("keys", ex.keys).Dur("waited", time.Since(ex.start)).
			Msg("client disconnected during latency")
		return false
	}

	if !admitted {
		s.finish(w, ex, ex.publicLimit.rejectReply(cfg.PublicRetryAfterMode, cfg.PublicRateWindow))
		return false
	}
	if effect.status != nil {
		s.finish(w, ex, faultReply(*effect.status))
		return false
	}
	return true
}

// sleepContext waits for d, returning early with the context's error when
// ctx ends first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish writes rep, with the X-RateLimit-* headers when the Public API
// rate limit applied to ex, and records the outcome of ex.
func (s *Server) finish(w http.ResponseWriter, ex *exchange, rep reply) {
	if ex.publicLimit != nil {
		rep.header = ex.publicLimit.addHeaders(rep.header)
	}
	writeReply(w, rep)
	s.stats.recordOutcome(ex, rep.status, rep.rowsAccepted)
	s.log.Debug().Str("operation", ex.op).Int("status", rep.status).Strs("keys", ex.keys).
		Dur("elapsed", time.Since(ex.start)).Msg("clay request served")
}

func writeReply(w http.ResponseWriter, rep reply) {
	for name, values := range rep.header {
		w.Header()[name] = values
	}
	if rep.contentType != "" {
		w.Header().Set("Content-Type", rep.contentType)
	}
	w.WriteHeader(rep.status)
	// A failed write means that the client went away, so there is no one
	// to report it to.
	_, _ = w.Write(rep.body)
}

// jsonReply encodes v as the body of a response with the given status.
func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil {
		return errorReply(http.StatusInternalServerError, "failed to encode response: %v", err)
	}
	return reply{status: status, contentType: "application/json", body: append(body, '\n')}
}

// errorReply returns a Clay error response, {"message": "..."}.
func errorReply(status int, format string, args ...any) reply {
	body, _ := json.Marshal(map[string]string{"message": fmt.Sprintf(format, args...)})
	return reply{status: status, contentType: "application/json", body: append(body, '\n')}
}

// faultReply returns the response of a fault with a Status.
func faultReply(f Fault) reply {
	rep := errorReply(f.Status, "simulated fault: %d %s", f.Status, http.StatusText(f.Status))
	if f.Body != "" {
		rep.body = []byte(f.Body)
		rep.contentType = "text/plain; charset=utf-8"
		if json.Valid(rep.body) {
			rep.contentType = "application/json"
		}
	}
	if value, ok := f.retryAfterHeader(); ok {
		rep.header = http.Header{"Retry-After": {value}}
	}
	return rep
}

// bodyErrorReply returns the response to a body that could not be read.
func bodyErrorReply(err error) reply {
	if errors.Is(err, errBodyTooLarge) {
		return errorReply(http.StatusRequestEntityTooLarge, "%v", err)
	}
	return errorReply(http.StatusBadRequest, "%v", err)
}

func secretsEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
