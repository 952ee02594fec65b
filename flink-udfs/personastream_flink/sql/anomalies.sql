-- The Kafka record of each flagged window: its item_trends row as JSON, times in UTC.
SELECT JSON_OBJECT(
    KEY 'item_id' VALUE item_id,
    KEY 'window_start' VALUE DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
    KEY 'window_end' VALUE DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
    KEY 'views' VALUE `views`, KEY 'score' VALUE score, KEY 'flagged' VALUE flagged,
    KEY 'model' VALUE `model`, KEY 'model_version' VALUE model_version,
    KEY 'n_learned' VALUE n_learned, KEY 'scored_by' VALUE scored_by,
    KEY 'shadow_version' VALUE shadow_version,
    KEY 'shadow_score' VALUE shadow_score, KEY 'shadow_flagged' VALUE shadow_flagged
    NULL ON NULL) AS anomaly
FROM scored_windows
WHERE flagged
