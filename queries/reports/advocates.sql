-- Advocates: per customer, every advocacy signal at the run date (of the
-- last $advocate_window_days days), the
-- advocacy score, the advocate flag next to the best-customer flag (they
-- are different things), a persona, and the date the customer first
-- qualified as an advocate.
--
-- advocacy_score (0..100) = $advocate_weight_promoter x [latest NPS >= $promoter_min]
--   + $advocate_weight_reviews   x min(positive reviews, cap) / cap
--   + $advocate_weight_social    x min(mentions + shares, cap) / cap
--   + $advocate_weight_community x min(answers + accepted answers, cap) / cap
--   + $advocate_weight_referrals x min(converted referrals, cap) / cap
-- with cap = $advocate_signal_cap. is_advocate: score >= $advocate_min_score.
--
-- Persona, for advocates only, first rule that holds:
--   educator       answers + accepted answers >= $educator_min_answers
--   status_seeker  social reach >= $status_seeker_min_followers and
--                  mentions + shares >= $status_seeker_min_shares
--   validator      customer for >= $validator_min_tenure_weeks weeks and a
--                  promoter or a positive reviewer
--   collaborator   written survey feedback >= $collaborator_min_feedback times
--   (none of these: 'advocate')
-- best_customer: in the top predicted-CLV decile (customer_clv.clv_decile = 10).
-- Signals count for $advocate_window_days days (advocacy expires): the
-- counts, the latest NPS answer and the score are those of the window
-- ending on the run date (int_advocate_timeline); a customer with no signal
-- in it has none.
WITH latest AS (
    SELECT *
    FROM int_advocate_timeline
    WHERE valid_until IS NULL
),
qualified AS (
    SELECT customer_id, MIN(as_of_date) AS first_qualified_date
    FROM int_advocate_timeline
    WHERE advocacy_score >= $advocate_min_score
    GROUP BY customer_id
),
reach AS (
    SELECT customer_id, MAX(followers) AS social_reach
    FROM int_social_authors
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
signals AS (
    SELECT
        c.customer_id,
        CAST($run_date - c.signup_date AS DOUBLE) / 7.0 AS tenure_weeks,
        l.latest_nps,
        COALESCE(l.latest_nps >= $promoter_min, false) AS is_promoter,
        COALESCE(l.feedback, 0) AS feedback_given,
        COALESCE(l.positive_reviews, 0) AS positive_reviews,
        COALESCE(l.mentions, 0) AS mentions,
        COALESCE(l.shares, 0) AS shares,
        COALESCE(l.answers, 0) AS community_answers,
        COALESCE(l.accepted_answers, 0) AS accepted_answers,
        COALESCE(l.referrals_sent, 0) AS referrals_made,
        COALESCE(l.referrals_converted, 0) AS referrals_converted,
        COALESCE(r.social_reach, 0) AS social_reach,
        COALESCE(l.advocacy_score, 0.0) AS advocacy_score,
        q.first_qualified_date
    FROM stg_customers AS c
    LEFT JOIN latest AS l ON l.customer_id = c.customer_id
    LEFT JOIN qualified AS q ON q.customer_id = c.customer_id
    LEFT JOIN reach AS r ON r.customer_id = c.customer_id
)
SELECT
    s.*,
    s.advocacy_score >= $advocate_min_score AS is_advocate,
    CASE
        WHEN s.advocacy_score < $advocate_min_score THEN NULL
        WHEN s.community_answers + s.accepted_answers >= $educator_min_answers THEN 'educator'
        WHEN s.social_reach >= $status_seeker_min_followers
            AND s.mentions + s.shares >= $status_seeker_min_shares THEN 'status_seeker'
        WHEN s.tenure_weeks >= $validator_min_tenure_weeks
            AND (s.is_promoter OR s.positive_reviews > 0) THEN 'validator'
        WHEN s.feedback_given >= $collaborator_min_feedback THEN 'collaborator'
        ELSE 'advocate'
    END AS persona,
    v.predicted_clv,
    v.clv_decile,
    COALESCE(v.clv_decile = 10, false) AS best_customer
FROM signals AS s
LEFT JOIN customer_clv AS v ON v.customer_id = s.customer_id
ORDER BY s.customer_id
