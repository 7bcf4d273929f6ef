package bench

import "math"

// targetCostPerMillion is issue 17's budget for a million clean 1 MB
// uploads on AWS, all services included.
const targetCostPerMillion = 12.0

// Prices, us-east-1, as docs/cost.md lists them with their sources and
// dates (estimates as of those dates, not quotes).
const (
	priceLambdaRequest = 0.20 / 1e6    // per invocation
	priceLambdaGBs     = 0.0000133334  // arm64, per GB-second
	priceExpressReq    = 1.00 / 1e6    // per Express execution
	priceExpressGBs    = 0.00001667    // per GB-second, 64 MB steps
	priceWRU           = 0.625 / 1e6   // on demand
	priceRRU           = 0.125 / 1e6   // on demand
	priceS3ClassA      = 0.005 / 1000  // PUT, COPY, POST, LIST (and tagging PUT)
	priceS3ClassB      = 0.0004 / 1000 // GET, HEAD and the rest
	priceSQSRequest    = 0.40 / 1e6    // standard queue
	priceLogsGB        = 0.50          // CloudWatch Logs ingestion
	priceXRayTrace     = 5.00 / 1e6    // traces recorded
)

// The stack's settings (cdk/gate's defaults) and the estimates docs/cost.md
// states for what this machine cannot measure: Lambda durations, log
// volumes, traces. They are the same numbers as its formula table; the
// measured counts replace its request counts.
const (
	costScanGB         = 2688.0 / 1024 // the scan function's memory (docs/clamd-memory.md)
	costScanSeconds    = 0.150         // **estimate**: S3's first byte, 1 MB, clamd
	costSmallGB        = 0.25          // every other function
	costSmallGBs       = 0.0425        // **estimate**: ingest 50 ms + Record 120 ms at 256 MB
	costExpressSeconds = 0.4           // **estimate**, billed in 100 ms steps
	costSQSRequests    = 3             // send (EventBridge), receive, delete: a batch of one
	// costFunctionLogB is what the handlers write for a clean object at
	// their default level, counted (TestLogBytesPerObject); Lambda's own
	// START, END and REPORT lines are filtered by default.
	costFunctionLogB = 1669
	// The traced deployment (workflowLogLevel=ALL, tracing=true,
	// platformLogs=true) adds:
	costPlatformLogB    = 300      // **estimate**: START, END and REPORT, per invocation
	costWorkflowLogB    = 30 << 10 // **estimate**: an Express execution at level ALL with data
	costTracesPerUpload = 2        // **estimate**: the ingest's and the workflow's
)

// Cost is what a million clean 1 MB uploads cost on AWS with the counts
// measured for one upload variant.
type Cost struct {
	// AsDeployed is the stack's default: workflow logs at ERROR, no
	// X-Ray, no platform log lines. Traced is the same with all three
	// turned on, so that the user sees what tracing costs.
	AsDeployed, Traced float64
}

// PerMillion prices c's counts per million clean uploads (docs/cost.md's
// formula).
func (c *AWSCounts) PerMillion() Cost {
	per := c.Invocations*priceLambdaRequest +
		(costSmallGBs+costScanGB*costScanSeconds)*priceLambdaGBs +
		priceExpressReq + math.Ceil(costExpressSeconds*10)/10*0.0625*priceExpressGBs +
		c.TotalWRU()*priceWRU + c.RRU*priceRRU +
		costSQSRequests*priceSQSRequest +
		costFunctionLogB/float64(1<<30)*priceLogsGB
	for op, n := range c.S3Ops {
		if s3ClassA(op) {
			per += n * priceS3ClassA
		} else {
			per += n * priceS3ClassB
		}
	}
	traced := (costWorkflowLogB+c.Invocations*costPlatformLogB)/float64(1<<30)*priceLogsGB +
		costTracesPerUpload*priceXRayTrace
	return Cost{AsDeployed: per * 1e6, Traced: (per + traced) * 1e6}
}

// s3ClassA reports whether S3 bills op as a class A request.
func s3ClassA(op string) bool {
	switch op {
	case "PutObject", "PutObjectTagging", "CopyObject", "CreateMultipartUpload", "UploadPart",
		"CompleteMultipartUpload", "ListObjectVersions", "ListObjectsV2":
		return true
	}
	return false
}
