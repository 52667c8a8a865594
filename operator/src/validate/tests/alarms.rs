use super::*;
use crate::spec::{Alarm, AlarmPresets, Alarms};

const CUSTOM: &str = "spec.alarms.custom.api-5xx";

fn alarms(e: &mut Environment) -> &mut Alarms {
    e.spec.alarms.as_mut().unwrap()
}

fn presets(e: &mut Environment) -> &mut AlarmPresets {
    &mut alarms(e).presets
}

fn custom(e: &mut Environment) -> &mut Alarm {
    alarms(e).custom.get_mut("api-5xx").unwrap()
}

#[test]
fn presets_need_their_component() {
    assert_only(
        |e| e.spec.redis = None,
        "spec.alarms.presets.redis",
        "spec.redis is not set, so there is nothing to watch",
    );
    assert_only(
        |e| e.spec.rabbitmq = None,
        "spec.alarms.presets.rabbitmq",
        "spec.rabbitmq is not set",
    );
    assert_only(
        |e| {
            e.spec.postgres = None;
        },
        "spec.alarms.presets.postgres",
        "spec.postgres is not set",
    );
    assert_only(
        |e| {
            e.spec.ecs = None;
        },
        "spec.alarms.presets.ecs",
        "spec.ecs is not set",
    );
}

#[test]
fn preset_thresholds() {
    let base = "spec.alarms.presets";
    for value in [0.0, 100.1, -1.0] {
        assert_only(
            |e| presets(e).ecs.as_mut().unwrap().cpu_high = value,
            &format!("{base}.ecs.cpuHigh"),
            "is not a percentage; allowed above 0 up to 100",
        );
    }
    assert_only(
        |e| presets(e).redis.as_mut().unwrap().memory_high = 0.0,
        &format!("{base}.redis.memoryHigh"),
        "is not a percentage",
    );
    assert_only(
        |e| presets(e).rabbitmq.as_mut().unwrap().cpu_high = f64::INFINITY,
        &format!("{base}.rabbitmq.cpuHigh"),
        "give a finite value",
    );
    assert_only(
        |e| presets(e).ecs.as_mut().unwrap().evaluation_periods = 0,
        &format!("{base}.ecs.evaluationPeriods"),
        "must be at least 1",
    );
    assert_only(
        |e| presets(e).postgres.as_mut().unwrap().connections_high = Some(0.0),
        &format!("{base}.postgres.connectionsHigh"),
        "must be greater than 0",
    );
    assert_only(
        |e| presets(e).postgres.as_mut().unwrap().free_storage_low_gib = 20.0,
        &format!("{base}.postgres.freeStorageLowGib"),
        "20 GiB is not below the 20 GiB allocated",
    );
    assert_only(
        |e| presets(e).rabbitmq.as_mut().unwrap().messages_ready_high = Some(-1.0),
        &format!("{base}.rabbitmq.messagesReadyHigh"),
        "must be 0 or more messages",
    );
}

#[test]
fn custom_alarm_names() {
    assert_only(
        |e| {
            let alarm = alarms(e).custom.remove("api-5xx").unwrap();
            alarms(e).custom.insert("API_5xx".into(), alarm);
        },
        "spec.alarms.custom.API_5xx",
        "alarm name 'A' is not allowed",
    );
    // shop-prod- is 10 characters; 10 + 246 = 256 > 255.
    let long = "a".repeat(246);
    assert_only(
        |e| {
            let alarm = alarms(e).custom.remove("api-5xx").unwrap();
            alarms(e).custom.insert(long.clone(), alarm);
        },
        &format!("spec.alarms.custom.{long}"),
        "is 256 characters and CloudWatch allows 255",
    );
}

#[test]
fn custom_alarm_metric() {
    assert_only(
        |e| custom(e).namespace = " ".into(),
        &format!("{CUSTOM}.namespace"),
        "must be 1–255 letters",
    );
    assert_only(
        |e| custom(e).namespace = "AWS/ELB!".into(),
        &format!("{CUSTOM}.namespace"),
        "e.g. AWS/ApplicationELB",
    );
    assert_only(
        |e| custom(e).metric_name = String::new(),
        &format!("{CUSTOM}.metricName"),
        "must be 1–255 characters",
    );
    assert_only(
        |e| custom(e).metric_name = "m".repeat(256),
        &format!("{CUSTOM}.metricName"),
        "must be 1–255 characters",
    );
    assert_only(
        |e| {
            for i in 0..29 {
                custom(e).dimensions.insert(format!("D{i}"), "v".into());
            }
        },
        &format!("{CUSTOM}.dimensions"),
        "31 dimensions; CloudWatch allows 30",
    );
    assert_only(
        |e| {
            custom(e).dimensions.insert("Queue".into(), String::new());
        },
        &format!("{CUSTOM}.dimensions.Queue"),
        "value must be 1–1024 characters",
    );
    assert_only(
        |e| custom(e).description = Some("d".repeat(1025)),
        &format!("{CUSTOM}.description"),
        "at most 1024 characters",
    );
}

#[test]
fn custom_alarm_statistics() {
    for statistic in ["avg", "p101", "P99"] {
        assert_only(
            |e| custom(e).statistic = statistic.into(),
            &format!("{CUSTOM}.statistic"),
            "is not a statistic; use Average, Sum, Minimum, Maximum, SampleCount or a percentile",
        );
    }
}

#[test]
fn custom_alarm_evaluation() {
    assert_only(
        |e| custom(e).period = 45,
        &format!("{CUSTOM}.period"),
        "45 s is not allowed; use 10, 20, 30 or a multiple of 60",
    );
    assert_passes(|e| custom(e).period = 10);
    assert_only(
        |e| {
            custom(e).evaluation_periods = 0;
            custom(e).datapoints_to_alarm = None;
        },
        &format!("{CUSTOM}.evaluationPeriods"),
        "must be at least 1",
    );
    assert_only(
        |e| custom(e).evaluation_periods = 1441,
        &format!("{CUSTOM}.evaluationPeriods"),
        "period 60 s × evaluationPeriods 1441 = 86460 s; CloudWatch allows at most one day",
    );
    assert_passes(|e| {
        custom(e).period = 3600;
        custom(e).evaluation_periods = 168;
    });
    assert_only(
        |e| custom(e).datapoints_to_alarm = Some(6),
        &format!("{CUSTOM}.datapointsToAlarm"),
        "6 must be 1–5 (at most evaluationPeriods)",
    );
    assert_only(
        |e| custom(e).datapoints_to_alarm = Some(0),
        &format!("{CUSTOM}.datapointsToAlarm"),
        "0 must be 1–5",
    );
    let errors = yaml_errors("threshold: 2", "threshold: .nan");
    assert_has(
        &errors,
        "spec.alarms.custom.api-latency.threshold",
        "give a finite value",
    );
}

#[test]
fn preset_severities_name_the_presets_alarms() {
    assert_only(
        |e| {
            let pg = presets(e).postgres.as_mut().unwrap();
            pg.severity
                .insert("memoryHigh".into(), crate::spec::Severity::Critical);
        },
        "spec.alarms.presets.postgres.severity.memoryHigh",
        "names no alarm of the preset; use one of cpuHigh, freeStorageLowGib, connectionsHigh",
    );
    assert_passes(|e| {
        let pg = presets(e).postgres.as_mut().unwrap();
        pg.severity
            .insert("cpuHigh".into(), crate::spec::Severity::Critical);
    });
}

#[test]
fn two_alarms_never_share_a_name() {
    // An explicit alarm named like a preset's.
    assert_only(
        |e| {
            let alarm = custom(e).clone();
            alarms(e).custom.insert("postgres-cpu-high".into(), alarm);
        },
        "spec.alarms",
        "two alarms would be named shop-prod-postgres-cpu-high",
    );
}

#[test]
fn every_alert_topic_is_a_standard_sns_topic() {
    assert_only(
        |e| {
            e.spec.alerts.as_mut().unwrap().topics.critical =
                Some("arn:aws:sns:us-east-1:123456789012:pager.fifo".into());
        },
        "spec.alerts.topics.critical",
        "CloudWatch alarms cannot notify a FIFO topic",
    );
    assert_only(
        |e| e.spec.alerts.as_mut().unwrap().topics.warning = Some("chat".into()),
        "spec.alerts.topics.warning",
        "is not an ARN",
    );
}
