package engine

import (
	"fmt"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/clamd"
)

// Classify turns clamd's result for a stream into an outcome and reason.
// complete says whether the stream clamd saw was the whole object; without
// it nothing is clean. An error means clamd gave no usable verdict (an
// ERROR reply) and the scan should be retried.
func Classify(res clamd.Result, complete bool) (domain.Outcome, string, error) {
	switch res.Status {
	case clamd.StatusClean:
		if !complete {
			return "", "", fmt.Errorf("engine: clamd answered OK for an incomplete stream (%d bytes)", res.Bytes)
		}
		return domain.OutcomeClean, "", nil
	case clamd.StatusFound:
		return domain.OutcomeInfected, "", nil
	case clamd.StatusLimit:
		if res.Limit == "Encrypted" {
			return domain.OutcomeUnscannable, domain.ReasonEncrypted, nil
		}
		return domain.OutcomeUnscannable, domain.ReasonLimitExceeded + ":" + res.Limit, nil
	case clamd.StatusSizeLimit:
		return domain.OutcomeUnscannable, domain.ReasonTooLarge, nil
	}
	return "", "", fmt.Errorf("engine: clamd answered %q", res.Raw)
}
