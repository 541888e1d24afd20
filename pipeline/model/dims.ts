import { Random } from "./random.js";

export interface CarModel {
  model_id: number;
  brand_name: string;
  model_name: string;
}
export interface CarColor {
  color_id: number;
  color_name: string;
}
export interface Car {
  car_id: number;
  driver_id: number;
  model_id: number;
  color_id: number;
}

/** The old platform's seven models and seven colors; Gray is Gray. */
export const CAR_MODELS: readonly CarModel[] = [
  { model_id: 1, brand_name: "Mazda", model_name: "3" },
  { model_id: 2, brand_name: "Mazda", model_name: "6" },
  { model_id: 3, brand_name: "Toyota", model_name: "Corolla" },
  { model_id: 4, brand_name: "Hyundai", model_name: "i20" },
  { model_id: 5, brand_name: "Kia", model_name: "Sportage" },
  { model_id: 6, brand_name: "Kia", model_name: "Rio" },
  { model_id: 7, brand_name: "Kia", model_name: "Picanto" },
];

export const CAR_COLORS: readonly CarColor[] = [
  { color_id: 1, color_name: "Black" },
  { color_id: 2, color_name: "Red" },
  { color_id: 3, color_name: "Gray" },
  { color_id: 4, color_name: "White" },
  { color_id: 5, color_name: "Green" },
  { color_id: 6, color_name: "Blue" },
  { color_id: 7, color_name: "Pink" },
];

export const DEFAULT_FLEET_SEED = 20240601;

/** Cars 1..count with drivers, models and colors drawn from a fixed seed, so every run seeds the same fleet. */
export function seedCars(count: number, seed = DEFAULT_FLEET_SEED): Car[] {
  const rnd = new Random(seed);
  const cars: Car[] = [];
  for (let car_id = 1; car_id <= count; car_id++) {
    cars.push({
      car_id,
      driver_id: 1000 + car_id * 7 + rnd.int(0, 6),
      model_id: rnd.pick(CAR_MODELS).model_id,
      color_id: rnd.pick(CAR_COLORS).color_id,
    });
  }
  return cars;
}
