int main() {
    std::vector<const geo::Shape*> shapes;
    return geo::total_area(shapes) > 0 ? 1 : GENERATORS_EXIT;
}
