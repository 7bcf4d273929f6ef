package dynamo

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain"
)

// Key values. A record and its review item share a partition, so one Query
// on pk can fetch both (the admin UI's detail view).
const (
	recordPrefix  = "rec#"
	skRecord      = "record"
	skReview      = "review"
	pkAllowlist   = "allowlist"
	verdictPrefix = "verdict#"
	verdictSKPref = "db#"
	openQueue     = "open"
)

func recordPK(id string) string { return recordPrefix + id }

func verdictPK(sha256 string) string { return verdictPrefix + sha256 }

func verdictSK(dbVersion string) string { return verdictSKPref + dbVersion }

// timeLayout is fixed width (nanoseconds always printed, always UTC) so
// that string order is time order for years 0000 to 9999. Every time is
// stored in it except the lease expiry, which is a number so that a
// condition can compare it.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// fmtOptTime formats t, or gives "" (an omitted attribute) for the zero
// time.
func fmtOptTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	if t.IsZero() {
		return time.Time{}, nil
	}
	return t, nil
}

// sortableYear reports whether t formats to the fixed width of timeLayout.
func sortableYear(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// sortKey is an index sort key: the fixed-width time, "#", the ID. IDs
// sort after the time, so equal times are ordered by ID.
func sortKey(t time.Time, id string) string { return fmtTime(t) + "#" + id }

// splitSortKey returns the ID of a sort key made by sortKey.
func splitSortKey(s string) (string, bool) {
	if len(s) <= len(timeLayout)+1 || s[len(timeLayout)] != '#' {
		return "", false
	}
	if _, err := time.Parse(timeLayout, s[:len(timeLayout)]); err != nil {
		return "", false
	}
	return s[len(timeLayout)+1:], true
}

// recordItem is a record as stored. Attributes that are empty are omitted
// (and REMOVEd by Update), which keeps items small.
//
// A clean record must stay under 1 KB through its verdict, where DynamoDB
// starts to bill a second write unit, so nothing is stored twice: the ID
// is the partition key's (id is written by older versions only), the
// creation and update times are the first and the last history entry's
// unless they differ, a history entry's time is the one before it's when
// they are equal, verdicts use short attribute names, and the
// current verdict is the last of the verdict history when VerdictIsLast is
// set (verdict is then absent). A clean record has no stateSort: it is in
// no index (see indexed).
type recordItem struct {
	PK            string        `dynamodbav:"pk"`
	SK            string        `dynamodbav:"sk"`
	ID            string        `dynamodbav:"id,omitempty"`
	Object        objectItem    `dynamodbav:"object"`
	State         string        `dynamodbav:"state"`
	StateSort     string        `dynamodbav:"stateSort,omitempty"`
	Reason        string        `dynamodbav:"reason,omitempty"`
	Version       int64         `dynamodbav:"version"`
	Attempts      int           `dynamodbav:"attempts"`
	Lease         *leaseItem    `dynamodbav:"lease,omitempty"`
	Verdict       *verdictItem  `dynamodbav:"verdict,omitempty"`
	VerdictIsLast bool          `dynamodbav:"verdictIsLast,omitempty"`
	Quarantine    *objectItem   `dynamodbav:"quarantine,omitempty"`
	ExecutionARN  string        `dynamodbav:"executionArn,omitempty"`
	CreatedAt     string        `dynamodbav:"createdAt,omitempty"`
	UpdatedAt     string        `dynamodbav:"updatedAt,omitempty"`
	History       []historyItem `dynamodbav:"history,omitempty"`
	Verdicts      []verdictItem `dynamodbav:"verdicts,omitempty"`
}

// indexed reports whether a record in state has an entry in the by-state
// index. A clean record has none: almost every object ends clean, and
// moving its entry there would cost two more write units per object
// (a delete and a put) for listings that only the retro-hunt and the
// console make; ListByState finds clean records with a Scan instead.
// Every state the sweep or an operator must find stays indexed.
func indexed(state domain.Status) bool { return state != domain.StatusClean }

// InByState reports whether a record in state has an entry in the by-state
// index, for estimates of the index's write units (dynalite reports none).
func InByState(state domain.Status) bool { return indexed(state) }

// stateSortFor is the by-state sort key of a record in state, or "" (an
// absent attribute, so no index entry) for a state that is not indexed.
func stateSortFor(state domain.Status, updated time.Time, id string) string {
	if !indexed(state) {
		return ""
	}
	return sortKey(updated, id)
}

// compactVerdict returns what a record stores of its current verdict v
// and its verdict history vs: v itself, or nil and true when v is the last
// of vs (as the portable layer writes it), which spares a second copy.
func compactVerdict(v *domain.Verdict, vs []domain.Verdict) (*verdictItem, bool) {
	cur := toVerdict(v)
	if cur == nil || len(vs) == 0 {
		return cur, false
	}
	if reflect.DeepEqual(*cur, *toVerdict(&vs[len(vs)-1])) {
		return nil, true
	}
	return cur, false
}

// Names of record attributes that expressions use.
const (
	attrReason        = "reason"
	attrVersion       = "version"
	attrAttempts      = "attempts"
	attrLease         = "lease"
	attrLeaseToken    = "token"
	attrLeaseExpires  = "expires"
	attrVerdict       = "verdict"
	attrVerdictIsLast = "verdictIsLast"
	attrQuarantine    = "quarantine"
	attrExecutionARN  = "executionArn"
	attrUpdatedAt     = "updatedAt"
	attrHistory       = "history"
	attrVerdicts      = "verdicts"
	attrDecision      = "decision"
	attrReviewer      = "reviewer"
	attrComment       = "comment"
	attrDecidedAt     = "decidedAt"
	attrTaskToken     = "taskToken"
)

type objectItem struct {
	Bucket    string `dynamodbav:"bucket,omitempty"`
	Key       string `dynamodbav:"key,omitempty"`
	VersionID string `dynamodbav:"versionId,omitempty"`
	ETag      string `dynamodbav:"etag,omitempty"`
	Size      int64  `dynamodbav:"size,omitempty"`
	Sequencer string `dynamodbav:"sequencer,omitempty"`
}

// leaseItem keeps the expiry as a number, Unix milliseconds, so that the
// reclaim condition can compare it: lease.expires <= :t.
type leaseItem struct {
	Owner   string `dynamodbav:"owner,omitempty"`
	Token   string `dynamodbav:"token,omitempty"`
	Expires int64  `dynamodbav:"expires"`
}

// verdictItem is a verdict as stored. Its longer attributes have short
// names (a record holds one verdict or more, and must stay under 1 KB);
// items written before they were shortened still decode (legacyVerdict).
type verdictItem struct {
	Outcome       string   `dynamodbav:"outcome,omitempty"`
	Signatures    []string `dynamodbav:"signatures,omitempty"`
	Reason        string   `dynamodbav:"reason,omitempty"`
	Engine        string   `dynamodbav:"engine,omitempty"`
	DBVersion     string   `dynamodbav:"db,omitempty"`
	DBTime        string   `dynamodbav:"dbAt,omitempty"`
	SHA256        string   `dynamodbav:"sha256,omitempty"`
	BytesScanned  int64    `dynamodbav:"bytes,omitempty"`
	DurationNanos int64    `dynamodbav:"ns,omitempty"`
	ScannedAt     string   `dynamodbav:"at,omitempty"`
	Reused        bool     `dynamodbav:"reused,omitempty"`
	AllowlistedBy string   `dynamodbav:"allowlistedBy,omitempty"`
	ContentType   string   `dynamodbav:"type,omitempty"`
	PolicyRule    string   `dynamodbav:"policyRule,omitempty"`
	PolicyAction  string   `dynamodbav:"policyAction,omitempty"`
	Retro         bool     `dynamodbav:"retro,omitempty"`
}

// legacyVerdict holds the long names of verdictItem's attributes, as items
// written before December 2026 have them.
type legacyVerdict struct {
	DBVersion     string `dynamodbav:"dbVersion,omitempty"`
	DBTime        string `dynamodbav:"dbTime,omitempty"`
	BytesScanned  int64  `dynamodbav:"bytesScanned,omitempty"`
	DurationNanos int64  `dynamodbav:"durationNs,omitempty"`
	ScannedAt     string `dynamodbav:"scannedAt,omitempty"`
	ContentType   string `dynamodbav:"contentType,omitempty"`
}

// UnmarshalDynamoDBAttributeValue decodes a verdict under its short names
// or, for items written earlier, its long ones.
func (v *verdictItem) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	type plain verdictItem // without this method
	var p plain
	if err := attributevalue.Unmarshal(av, &p); err != nil {
		return err
	}
	var old legacyVerdict
	if err := attributevalue.Unmarshal(av, &old); err != nil {
		return err
	}
	*v = verdictItem(p)
	v.DBVersion = cmp.Or(v.DBVersion, old.DBVersion)
	v.DBTime = cmp.Or(v.DBTime, old.DBTime)
	v.BytesScanned = cmp.Or(v.BytesScanned, old.BytesScanned)
	v.DurationNanos = cmp.Or(v.DurationNanos, old.DurationNanos)
	v.ScannedAt = cmp.Or(v.ScannedAt, old.ScannedAt)
	v.ContentType = cmp.Or(v.ContentType, old.ContentType)
	return nil
}

// historyItem is a history entry as stored. At is absent when it is the
// previous entry's (a record claimed at ingest has two entries of one
// instant).
type historyItem struct {
	At     string `dynamodbav:"at,omitempty"`
	Event  string `dynamodbav:"event,omitempty"`
	From   string `dynamodbav:"from,omitempty"`
	To     string `dynamodbav:"to,omitempty"`
	Actor  string `dynamodbav:"actor,omitempty"`
	Reason string `dynamodbav:"reason,omitempty"`
	Detail string `dynamodbav:"detail,omitempty"`
}

// reviewItem is a review item as stored. OpenQueue and OpenSort are set
// only while the item is open: they are its entry in the sparse
// open-reviews index.
type reviewItem struct {
	PK         string     `dynamodbav:"pk"`
	SK         string     `dynamodbav:"sk"`
	ID         string     `dynamodbav:"id"`
	Object     objectItem `dynamodbav:"object"`
	Signatures []string   `dynamodbav:"signatures,omitempty"`
	Reason     string     `dynamodbav:"reason,omitempty"`
	SHA256     string     `dynamodbav:"sha256,omitempty"`
	OpenedAt   string     `dynamodbav:"openedAt"`
	Decision   string     `dynamodbav:"decision,omitempty"`
	Reviewer   string     `dynamodbav:"reviewer,omitempty"`
	Comment    string     `dynamodbav:"comment,omitempty"`
	DecidedAt  string     `dynamodbav:"decidedAt,omitempty"`
	TaskToken  string     `dynamodbav:"taskToken,omitempty"`
	Retro      bool       `dynamodbav:"retroDetected,omitempty"`
	FirstClean string     `dynamodbav:"firstCleanAt,omitempty"`
	OpenQueue  string     `dynamodbav:"openQueue,omitempty"`
	OpenSort   string     `dynamodbav:"openSort,omitempty"`
}

type allowlistItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	SHA256  string `dynamodbav:"sha256"`
	AddedBy string `dynamodbav:"addedBy,omitempty"`
	AddedAt string `dynamodbav:"addedAt"`
	Reason  string `dynamodbav:"reason,omitempty"`
	Expires string `dynamodbav:"expires,omitempty"`
}

type cachedVerdictItem struct {
	PK        string      `dynamodbav:"pk"`
	SK        string      `dynamodbav:"sk"`
	DBVersion string      `dynamodbav:"dbVersion"`
	Verdict   verdictItem `dynamodbav:"verdict"`
}

func toObject(o domain.ObjectRef) objectItem {
	return objectItem{Bucket: o.Bucket, Key: o.Key, VersionID: o.VersionID, ETag: o.ETag, Size: o.Size, Sequencer: o.Sequencer}
}

func (o objectItem) domain() domain.ObjectRef {
	return domain.ObjectRef{Bucket: o.Bucket, Key: o.Key, VersionID: o.VersionID, ETag: o.ETag, Size: o.Size, Sequencer: o.Sequencer}
}

func toLease(l *domain.Lease) *leaseItem {
	if l == nil {
		return nil
	}
	return &leaseItem{Owner: l.Owner, Token: l.Token, Expires: l.Expires.UnixMilli()}
}

func (l *leaseItem) domain() *domain.Lease {
	if l == nil {
		return nil
	}
	return &domain.Lease{Owner: l.Owner, Token: l.Token, Expires: time.UnixMilli(l.Expires).UTC()}
}

func toVerdict(v *domain.Verdict) *verdictItem {
	if v == nil {
		return nil
	}
	return &verdictItem{
		Outcome: string(v.Outcome), Signatures: v.Signatures, Reason: v.Reason, Engine: v.Engine,
		DBVersion: v.DBVersion, DBTime: fmtOptTime(v.DBTime), SHA256: v.SHA256, BytesScanned: v.BytesScanned,
		DurationNanos: int64(v.Duration), ScannedAt: fmtOptTime(v.ScannedAt), Reused: v.Reused,
		AllowlistedBy: v.AllowlistedBy, ContentType: v.ContentType, PolicyRule: v.PolicyRule,
		PolicyAction: v.PolicyAction, Retro: v.Retro,
	}
}

func (v *verdictItem) domain() (*domain.Verdict, error) {
	if v == nil {
		return nil, nil
	}
	dbTime, err := parseTime(v.DBTime)
	if err != nil {
		return nil, err
	}
	scanned, err := parseTime(v.ScannedAt)
	if err != nil {
		return nil, err
	}
	return &domain.Verdict{
		Outcome: domain.Outcome(v.Outcome), Signatures: v.Signatures, Reason: v.Reason, Engine: v.Engine,
		DBVersion: v.DBVersion, DBTime: dbTime, SHA256: v.SHA256, BytesScanned: v.BytesScanned,
		Duration: time.Duration(v.DurationNanos), ScannedAt: scanned, Reused: v.Reused,
		AllowlistedBy: v.AllowlistedBy, ContentType: v.ContentType, PolicyRule: v.PolicyRule,
		PolicyAction: v.PolicyAction, Retro: v.Retro,
	}, nil
}

func toHistory(h domain.HistoryEntry) historyItem {
	return historyItem{
		At: fmtTime(h.At), Event: h.Event, From: string(h.From), To: string(h.To),
		Actor: h.Actor, Reason: h.Reason, Detail: h.Detail,
	}
}

func (h historyItem) domain() (domain.HistoryEntry, error) {
	at, err := parseTime(h.At)
	if err != nil {
		return domain.HistoryEntry{}, err
	}
	return domain.HistoryEntry{
		At: at, Event: h.Event, From: domain.Status(h.From), To: domain.Status(h.To),
		Actor: h.Actor, Reason: h.Reason, Detail: h.Detail,
	}, nil
}

func toRecordItem(r *domain.Record) recordItem {
	it := recordItem{
		PK: recordPK(r.ID), SK: skRecord, Object: toObject(r.Object),
		State: string(r.State), StateSort: stateSortFor(r.State, r.UpdatedAt, r.ID), Reason: r.Reason,
		Version: r.Version, Attempts: r.Attempts, Lease: toLease(r.Lease),
		ExecutionARN: r.ExecutionARN, CreatedAt: fmtTime(r.CreatedAt), UpdatedAt: fmtTime(r.UpdatedAt),
	}
	it.Verdict, it.VerdictIsLast = compactVerdict(r.Verdict, r.Verdicts)
	if r.Quarantine != nil {
		q := toObject(*r.Quarantine)
		it.Quarantine = &q
	}
	for i, h := range r.History {
		e := toHistory(h)
		if i > 0 && r.History[i-1].At.Equal(h.At) {
			e.At = ""
		}
		it.History = append(it.History, e)
	}
	if n := len(r.History); n > 0 {
		if r.History[0].At.Equal(r.CreatedAt) {
			it.CreatedAt = ""
		}
		if r.History[n-1].At.Equal(r.UpdatedAt) {
			it.UpdatedAt = ""
		}
	}
	it.Verdicts = toVerdicts(r.Verdicts)
	return it
}

func (it *recordItem) domain() (*domain.Record, error) {
	id := it.ID
	if id == "" {
		id = strings.TrimPrefix(it.PK, recordPrefix)
	}
	rec := &domain.Record{
		ID: id, Object: it.Object.domain(), State: domain.Status(it.State), Reason: it.Reason,
		Version: it.Version, Attempts: it.Attempts, Lease: it.Lease.domain(), ExecutionARN: it.ExecutionARN,
	}
	var err error
	cur := it.Verdict
	if it.VerdictIsLast && cur == nil && len(it.Verdicts) > 0 {
		last := it.Verdicts[len(it.Verdicts)-1]
		last.Signatures = slices.Clone(last.Signatures)
		cur = &last
	}
	if rec.Verdict, err = cur.domain(); err != nil {
		return nil, err
	}
	if it.Quarantine != nil {
		q := it.Quarantine.domain()
		rec.Quarantine = &q
	}
	for i, h := range it.History {
		if h.At == "" && i > 0 {
			h.At = it.History[i-1].At
			it.History[i].At = h.At
		}
		e, err := h.domain()
		if err != nil {
			return nil, err
		}
		rec.History = append(rec.History, e)
	}
	created, updated := it.CreatedAt, it.UpdatedAt
	if n := len(it.History); n > 0 {
		created = cmp.Or(created, it.History[0].At)
		updated = cmp.Or(updated, it.History[n-1].At)
	}
	if rec.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if rec.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	for _, v := range it.Verdicts {
		d, err := v.domain()
		if err != nil {
			return nil, err
		}
		rec.Verdicts = append(rec.Verdicts, *d)
	}
	return rec, nil
}

func toVerdicts(vs []domain.Verdict) []verdictItem {
	var out []verdictItem
	for i := range vs {
		out = append(out, *toVerdict(&vs[i]))
	}
	return out
}

func toReviewItem(r *domain.ReviewItem) reviewItem {
	it := reviewItem{
		PK: recordPK(r.ID), SK: skReview, ID: r.ID, Object: toObject(r.Object),
		Signatures: r.Signatures, Reason: r.Reason, SHA256: r.SHA256, OpenedAt: fmtTime(r.OpenedAt),
		Decision: string(r.Decision), Reviewer: r.Reviewer, Comment: r.Comment,
		DecidedAt: fmtOptTime(r.DecidedAt), TaskToken: r.TaskToken,
		Retro: r.RetroDetected, FirstClean: fmtOptTime(r.FirstCleanAt),
	}
	if r.Open() {
		it.OpenQueue, it.OpenSort = openQueue, sortKey(r.OpenedAt, r.ID)
	}
	return it
}

func (it *reviewItem) domain() (*domain.ReviewItem, error) {
	r := &domain.ReviewItem{
		ID: it.ID, Object: it.Object.domain(), Signatures: it.Signatures, Reason: it.Reason,
		SHA256: it.SHA256, Decision: domain.Decision(it.Decision), Reviewer: it.Reviewer,
		Comment: it.Comment, TaskToken: it.TaskToken, RetroDetected: it.Retro,
	}
	var err error
	if r.FirstCleanAt, err = parseTime(it.FirstClean); err != nil {
		return nil, err
	}
	if r.OpenedAt, err = parseTime(it.OpenedAt); err != nil {
		return nil, err
	}
	if r.DecidedAt, err = parseTime(it.DecidedAt); err != nil {
		return nil, err
	}
	return r, nil
}

func toAllowlistItem(e *domain.AllowlistEntry) allowlistItem {
	return allowlistItem{
		PK: pkAllowlist, SK: e.SHA256, SHA256: e.SHA256, AddedBy: e.AddedBy,
		AddedAt: fmtTime(e.AddedAt), Reason: e.Reason, Expires: fmtOptTime(e.Expires),
	}
}

func (it *allowlistItem) domain() (*domain.AllowlistEntry, error) {
	e := &domain.AllowlistEntry{SHA256: it.SHA256, AddedBy: it.AddedBy, Reason: it.Reason}
	var err error
	if e.AddedAt, err = parseTime(it.AddedAt); err != nil {
		return nil, err
	}
	if e.Expires, err = parseTime(it.Expires); err != nil {
		return nil, err
	}
	return e, nil
}

// Upload intent keys. An intent's by-state partition is its state under
// intentStatePrefix, a value no record state can take.
const (
	intentPrefix      = "intent#"
	skIntent          = "intent"
	intentStatePrefix = "intent#"
)

func intentPK(id string) string { return intentPrefix + id }

func intentStatePK(s domain.IntentState) string { return intentStatePrefix + string(s) }

// intentItem is an upload intent as stored. State and StateSort are its
// by-state entry (intent#<state>, expiresAt#id); IntentKey and IntentSort
// its intents-by-key entry (keyHash, issuedAt#id), fixed at creation.
type intentItem struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	ID         string `dynamodbav:"id"`
	Bucket     string `dynamodbav:"bucket"`
	Key        string `dynamodbav:"key"`
	Requester  string `dynamodbav:"requester,omitempty"`
	Method     string `dynamodbav:"method,omitempty"`
	IssuedAt   string `dynamodbav:"issuedAt"`
	ExpiresAt  string `dynamodbav:"expiresAt"`
	SHA256     string `dynamodbav:"sha256,omitempty"`
	MinBytes   int64  `dynamodbav:"minBytes,omitempty"`
	MaxBytes   int64  `dynamodbav:"maxBytes,omitempty"`
	RecordID   string `dynamodbav:"recordId,omitempty"`
	ResolvedAt string `dynamodbav:"resolvedAt,omitempty"`
	ResolvedBy string `dynamodbav:"resolvedBy,omitempty"`
	State      string `dynamodbav:"state"`
	StateSort  string `dynamodbav:"stateSort"`
	IntentKey  string `dynamodbav:"intentKey"`
	IntentSort string `dynamodbav:"intentSort"`
}

// Names of intent attributes that expressions use.
const (
	attrRecordID   = "recordId"
	attrResolvedAt = "resolvedAt"
	attrResolvedBy = "resolvedBy"
)

func toIntentItem(in *domain.UploadIntent) intentItem {
	return intentItem{
		PK: intentPK(in.ID), SK: skIntent, ID: in.ID, Bucket: in.Bucket, Key: in.Key,
		Requester: in.Requester, Method: in.Method, IssuedAt: fmtTime(in.IssuedAt), ExpiresAt: fmtTime(in.ExpiresAt),
		SHA256: in.SHA256, MinBytes: in.MinBytes, MaxBytes: in.MaxBytes, RecordID: in.RecordID,
		ResolvedAt: fmtOptTime(in.ResolvedAt), ResolvedBy: in.ResolvedBy,
		State: intentStatePK(in.State), StateSort: sortKey(in.ExpiresAt, in.ID),
		IntentKey: in.KeyHash(), IntentSort: sortKey(in.IssuedAt, in.ID),
	}
}

func (it *intentItem) domain() (*domain.UploadIntent, error) {
	state, ok := strings.CutPrefix(it.State, intentStatePrefix)
	if !ok {
		return nil, fmt.Errorf("state %q is not an intent state", it.State)
	}
	in := &domain.UploadIntent{
		ID: it.ID, Bucket: it.Bucket, Key: it.Key, Requester: it.Requester, Method: it.Method,
		SHA256: it.SHA256, MinBytes: it.MinBytes, MaxBytes: it.MaxBytes, State: domain.IntentState(state),
		RecordID: it.RecordID, ResolvedBy: it.ResolvedBy,
	}
	var err error
	if in.IssuedAt, err = parseTime(it.IssuedAt); err != nil {
		return nil, err
	}
	if in.ExpiresAt, err = parseTime(it.ExpiresAt); err != nil {
		return nil, err
	}
	if in.ResolvedAt, err = parseTime(it.ResolvedAt); err != nil {
		return nil, err
	}
	return in, nil
}
