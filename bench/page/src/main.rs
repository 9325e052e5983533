//! One 760x340 line chart with error bars as SVG, its size printed; or,
//! without the `charts` feature, nothing: the build-time baseline.

#[cfg(feature = "charts")]
fn main() {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 340)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..24.5, -100.0..100.0)
            .unwrap();
        chart.configure_mesh().x_desc("Month").y_desc("NPS (points)").draw().unwrap();
        let nps = |i: usize| ((i * 37) % 60) as f64 - 10.0;
        chart
            .draw_series(LineSeries::new((0..25).map(|i| (i as f64, nps(i))), BLUE.stroke_width(2)))
            .unwrap();
        chart
            .draw_series((0..25).map(|i| {
                ErrorBar::new_vertical(i as f64, nps(i) - 20.0, nps(i), nps(i) + 20.0, BLUE, 6)
            }))
            .unwrap();
        root.present().unwrap();
    }
    println!("{} bytes of SVG", svg.len());
}

#[cfg(not(feature = "charts"))]
fn main() {}
