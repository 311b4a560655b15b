package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eapache/go-resiliency/deadline"

	"github.com/claybridge/claybridge/subjects"
)

var (
	// errClayTimeout marks a call that outlived its timeout: Clay was too
	// slow, which counts against the breaker.
	errClayTimeout = errors.New("clay call timed out")
	// errRequestDeadline marks a call stopped by the request's own
	// Clay-Deadline, which says nothing about Clay's health.
	errRequestDeadline = errors.New("request deadline passed")
)

// within runs fn under a go-resiliency deadline: the shorter of timeout
// and the request's Clay-Deadline. The deadline's stopper cancels fn's
// context, so the HTTP call is aborted, and a late answer is dropped
// rather than acted on.
func within[T any](ctx context.Context, j *job, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	return withinDeadline(ctx, j.deadline, timeout, fn)
}

// withinDeadline is within for a call made for several requests, or for
// none: deadline is the request deadline that applies, zero for none.
func withinDeadline[T any](ctx context.Context, deadlineAt time.Time, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	limit, cause := timeout, errClayTimeout
	if !deadlineAt.IsZero() {
		if left := time.Until(deadlineAt); left < limit {
			limit, cause = left, errRequestDeadline
		}
	}
	if limit <= 0 {
		return zero, fmt.Errorf("%w at %s", errRequestDeadline, deadlineAt.Format(time.RFC3339))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan T, 1)
	err := deadline.New(limit).Run(func(stopper <-chan struct{}) error {
		go func() {
			select {
			case <-stopper:
				cancel()
			case <-ctx.Done():
			}
		}()
		v, err := fn(ctx)
		if err == nil {
			results <- v
		}
		return err
	})
	if errors.Is(err, deadline.ErrTimedOut) {
		return zero, fmt.Errorf("%w after %s", cause, limit)
	}
	if err != nil {
		return zero, err
	}
	return <-results, nil
}

// requestDeadline parses the optional Clay-Deadline header (RFC 3339).
func requestDeadline(value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: header %s %q is not an RFC 3339 time", subjects.ErrInvalidRequest, subjects.HeaderDeadline, value)
	}
	return t, nil
}
