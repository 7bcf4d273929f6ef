package gate

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/lambdas"
	"github.com/scangate/scangate/lambdas/lambdaenv"
)

// The scan function's metrics, as package metrics writes them in EMF: its
// namespace and the engine line's SignatureAge (seconds).
const (
	metricNamespace    = "scangate"
	metricSignatureAge = "SignatureAge"
	// metricSweepRestarted counts the sweep's "sweep restarted record"
	// log lines (lambdas/sweep.go): records no execution was driving.
	metricSweepRestarted = "SweepRestarted"
	// metricFailedGivenUp is the count the sweep logs of records failed
	// for a passing reason past their retry window (lambdas/sweep.go).
	metricFailedGivenUp = "FailedPastRetryWindow"
)

// Alarm names (suffixes of the construct ids), for tests and runbooks.
const (
	AlarmDeadLetters     = "DeadLettersNotEmpty"
	AlarmStaleSignatures = "SignaturesStale"
	AlarmSweepRestarted  = "RecordsLeftForSweep"
	// AlarmFailedGivenUp: records stay failed after the sweep's retries.
	AlarmFailedGivenUp = "RecordsFailedForGood"
	// AlarmSignatureUpdateFailed: a run of the updater failed.
	AlarmSignatureUpdateFailed = "SignatureUpdateFailed"
	// AlarmSignatureUpdaterSilent: the updater has not run at all.
	AlarmSignatureUpdaterSilent = "SignatureUpdaterSilent"
)

// Alarms are the gate's alarms.
func (g *Gate) Alarms() []awscloudwatch.Alarm { return g.alarms }

// observe adds the alarms, their topic (with the e-mail subscription when
// AlarmEmail is set) and a dashboard.
func (g *Gate) observe() {
	topic := awssns.NewTopic(g.Scope, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("scangate alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	if g.props.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(g.props.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	five := awscdk.Duration_Minutes(jsii.Number(5))
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(g.Scope, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		g.alarms = append(g.alarms, a)
	}

	alarm(AlarmDeadLetters, "Upload events the ingest function could not record after every retry are waiting in the dead-letter queue: their objects have no record and stay unreadable. Inspect and redrive them.",
		g.DeadLetters.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 1)

	for _, sm := range []struct {
		id string
		m  interface {
			MetricFailed(*awscloudwatch.MetricOptions) awscloudwatch.Metric
			MetricTimedOut(*awscloudwatch.MetricOptions) awscloudwatch.Metric
		}
	}{{"Scan", g.ScanMachine}, {"Review", g.ReviewMachine}} {
		sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
		alarm(sm.id+"WorkflowFailed", "The "+sm.id+" workflow failed: the object's record holds the reason (failed, or a decision not applied).", sm.m.MetricFailed(sum), 1)
		alarm(sm.id+"WorkflowTimedOut", "The "+sm.id+" workflow timed out: the record is left for the sweep to re-drive.", sm.m.MetricTimedOut(sum), 1)
	}

	for _, name := range lambdaenv.Functions() {
		fn := g.Functions[name]
		sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
		// Three errors in five minutes: a single retried error (a lease
		// race in Claim, clamd still loading) is normal; a steady stream
		// is not.
		alarm(title(name)+"Errors", "The "+name+" function keeps failing (errors are retried by the workflow, then recorded).", fn.MetricErrors(sum), 3)
		alarm(title(name)+"Throttles", "The "+name+" function is throttled: raise its reserved concurrency or the account's limit.", fn.MetricThrottles(sum), 1)
	}

	maxAge := float64(g.props.MaxSignatureAgeHours * 3600)
	alarm(AlarmStaleSignatures, fmt.Sprintf("The scan function's signature database is older than %d h: scans fail as StaleSignatures (never clean) until the signatures are updated.", g.props.MaxSignatureAgeHours),
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(metricSignatureAge),
			Statistic: jsii.String("Maximum"), Period: five,
		}), maxAge)

	// The updater runs every few hours, so the per-function alarm above
	// (three errors in five minutes) could never fire for it. One failed
	// run alarms: the scan side keeps its loaded set, but every failed
	// run brings the staleness guard's refusal closer.
	every := awscdk.Duration_Hours(jsii.Number(float64(g.props.Signatures.EveryHours)))
	updater := g.Functions["sigupdate"]
	alarm(AlarmSignatureUpdateFailed, fmt.Sprintf("The signature updater failed: no new set was published (its log says why: the mirror, freshclam, or S3). Scans keep the loaded set, and are refused as StaleSignatures once it is older than %d h.", g.props.MaxSignatureAgeHours),
		updater.MetricErrors(&awscloudwatch.MetricOptions{Period: every, Statistic: jsii.String("Sum")}), 1)
	// A schedule that stopped (a rule disabled by hand) fails nothing:
	// alarm on the absence of runs, missing data counting as none.
	silent := awscloudwatch.NewAlarm(g.Scope, jsii.String(AlarmSignatureUpdaterSilent), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(fmt.Sprintf("The signature updater has not run for %d hours: check the SignatureSchedule rule. Scans are refused once the loaded set is older than %d h.",
			2*g.props.Signatures.EveryHours, g.props.MaxSignatureAgeHours)),
		Metric: updater.MetricInvocations(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Hours(jsii.Number(float64(2 * g.props.Signatures.EveryHours))), Statistic: jsii.String("Sum"),
		}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	silent.AddAlarmAction(action)
	g.alarms = append(g.alarms, silent)

	awslogs.NewMetricFilter(g.Scope, jsii.String("SweepRestartedFilter"), &awslogs.MetricFilterProps{
		LogGroup:        g.Functions["sweep"].LogGroup(),
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(lambdas.LogSweepRestarted)),
		MetricNamespace: jsii.String(metricNamespace),
		MetricName:      jsii.String(metricSweepRestarted),
		MetricValue:     jsii.String("1"),
		DefaultValue:    jsii.Number(0),
	})
	alarm(AlarmSweepRestarted, "The sweep found records no execution was driving (a lost event, execution or process) and started them again. A few are harmless; a steady number means a broken path.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(metricSweepRestarted),
			Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(float64(g.props.SweepEveryMinutes))),
		}), 1)

	awslogs.NewMetricFilter(g.Scope, jsii.String("FailedGivenUpFilter"), &awslogs.MetricFilterProps{
		LogGroup:        g.Functions["sweep"].LogGroup(),
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(lambdas.LogFailedGivenUp)),
		MetricNamespace: jsii.String(metricNamespace),
		MetricName:      jsii.String(metricFailedGivenUp),
		MetricValue:     jsii.String("$.count"),
		DefaultValue:    jsii.Number(0),
	})
	alarm(AlarmFailedGivenUp, "Records failed for a passing reason (clamd, S3, the store, a timeout) and kept failing through a day of the sweep's automatic retries: they stay failed, unreadable, until an operator rescans them.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(metricFailedGivenUp),
			Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(float64(g.props.SweepEveryMinutes))),
		}), 1)

	g.dashboard()
}

func (g *Gate) dashboard() {
	d := awscloudwatch.NewDashboard(g.Scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{})
	graph := func(title string, ms ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &ms, Width: jsii.Number(12)})
	}
	var outcomes []awscloudwatch.IMetric
	for _, o := range []string{"clean", "infected", "unscannable", "allowlisted", "error"} {
		outcomes = append(outcomes, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String("Scans"),
			DimensionsMap: &map[string]*string{"Outcome": jsii.String(o)}, Statistic: jsii.String("Sum"), Label: jsii.String(o),
		}))
	}
	scan := g.Functions["scan"]
	d.AddWidgets(
		graph("Scans by outcome", outcomes...),
		graph("Ingest queue and dead letters",
			g.Queue.MetricApproximateNumberOfMessagesVisible(nil),
			g.Queue.MetricApproximateAgeOfOldestMessage(nil),
			g.DeadLetters.MetricApproximateNumberOfMessagesVisible(nil)),
	)
	d.AddWidgets(
		graph("Scan workflow", g.ScanMachine.MetricStarted(nil), g.ScanMachine.MetricSucceeded(nil), g.ScanMachine.MetricFailed(nil), g.ScanMachine.MetricTimedOut(nil)),
		graph("Review workflow", g.ReviewMachine.MetricStarted(nil), g.ReviewMachine.MetricSucceeded(nil), g.ReviewMachine.MetricFailed(nil)),
	)
	d.AddWidgets(
		graph("Scan function", scan.MetricDuration(nil), scan.MetricErrors(nil), scan.MetricThrottles(nil)),
		graph("Signature age (s)", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(metricSignatureAge), Statistic: jsii.String("Maximum"),
		})),
	)
	updater := g.Functions["sigupdate"]
	d.AddWidgets(graph("Signature updater", updater.MetricInvocations(nil), updater.MetricErrors(nil), updater.MetricDuration(nil)))
	var errs []awscloudwatch.IMetric
	for _, name := range lambdaenv.Functions() {
		errs = append(errs, g.Functions[name].MetricErrors(&awscloudwatch.MetricOptions{Label: jsii.String(name)}))
	}
	d.AddWidgets(graph("Function errors", errs...), graph("Sweep restarts", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metricNamespace), MetricName: jsii.String(metricSweepRestarted), Statistic: jsii.String("Sum"),
	})))
}
