package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/subjects"
)

// payloadMargin leaves room under the server's max payload for the
// result's headers and JSON envelope.
const payloadMargin = 16 << 10

// objectResultsMaxBytes bounds the Object Store of large results.
const objectResultsMaxBytes = 4 << 30

// openResultObjects opens the Object Store of large results, creating it
// when missing with the result stream's maximum age.
func (p *Processor) openResultObjects(ctx context.Context) error {
	store, err := p.js.ObjectStore(ctx, subjects.ObjectResults)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		store, err = p.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      subjects.ObjectResults,
			Description: "Result data too large for one message",
			TTL:         ResultsMaxAge,
			MaxBytes:    objectResultsMaxBytes,
			Storage:     jetstream.FileStorage,
			Replicas:    p.cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			store, err = p.js.ObjectStore(ctx, subjects.ObjectResults)
		}
	}
	if err != nil {
		return fmt.Errorf("open Object Store %s: %w", subjects.ObjectResults, err)
	}
	p.resultObjects = store
	return nil
}

// offload moves a result's data to the Object Store when the result would
// not fit in one message, and sets its ref. The object is named after the
// key's hash, so a retried upload replaces it rather than adding another.
func (p *Processor) offload(ctx context.Context, j *job, res *subjects.Result) error {
	return p.offloadResult(ctx, j.key, j.log, res)
}

// offloadResult is offload for the request key, logging to log.
func (p *Processor) offloadResult(ctx context.Context, key string, log zerolog.Logger, res *subjects.Result) error {
	limit := int(p.nc.MaxPayload()) - payloadMargin
	if len(res.Data) <= limit {
		return nil
	}
	name := subjects.HashKey(key)
	ctx, cancel := context.WithTimeout(ctx, p.cfg.UploadTimeout)
	defer cancel()
	if _, err := p.resultObjects.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(res.Data)); err != nil {
		return fmt.Errorf("store %d bytes of result data in %s: %w", len(res.Data), subjects.ObjectResults, err)
	}
	log.Debug().Int("bytes", len(res.Data)).Str("object", name).Msg("result data stored in the Object Store")
	res.Data, res.Ref = nil, subjects.ObjectResults+"/"+name
	return nil
}
